//! Book-keeping for the interpreters the package created: which exist, which are running code
//! (and on which thread), which are being created or closed, which another thread is briefly
//! visiting, and whether the process is shutting down.
//!
//! The binding stores an opaque handle per interpreter (its `PyInterpreterState` address) and
//! asks this table before every run, visit and close, so the rules ("not while running", "close
//! twice is a no-op", "nothing new once shutdown began", "a handle is only used while its
//! interpreter is reserved") live in one place, free of Python. The exit hook waits on it until
//! no operation is in flight.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::sync::{lock, wait_timeout, Condvar, Mutex, MutexGuard};

/// Why the table refused an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// No such interpreter (never created here, or closed).
    NotFound,
    /// The interpreter is running code (in the given thread).
    Running(u64),
    /// Another thread is briefly using the interpreter (the exit hook stopping its code).
    Visited,
    /// The process is shutting down; no interpreter may be created or start running.
    ShuttingDown,
}

/// The interpreters created by the package, by CPython interpreter id.
pub struct InterpreterTable<H> {
    inner: Mutex<Inner<H>>,
    /// Signalled whenever a run, visit, creation or close ends.
    changed: Condvar,
}

struct Inner<H> {
    records: BTreeMap<i64, Record<H>>,
    /// Creations between [`InterpreterTable::begin_create`] and their end.
    creating: usize,
    shutting_down: bool,
    /// Threads in [`InterpreterTable::wait_until`]: a change wakes them only if there are any
    /// (a notify is a system call; runs begin and end on every call into an interpreter).
    waiting: usize,
}

struct Record<H> {
    handle: H,
    isolated: bool,
    /// The thread running code in the interpreter, if any.
    runner: Option<u64>,
    /// Threads using the handle without running code (see [`InterpreterTable::begin_visit`]).
    visitors: usize,
    /// A close is under way: the interpreter accepts nothing more.
    closing: bool,
}

impl<H: Copy> Default for InterpreterTable<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: Copy> InterpreterTable<H> {
    /// An empty table.
    pub fn new() -> Self {
        InterpreterTable {
            inner: Mutex::new(Inner { records: BTreeMap::new(), creating: 0, shutting_down: false, waiting: 0 }),
            changed: Condvar::new(),
        }
    }

    /// Announces a creation: refused once shutdown has begun, so that the exit hook, which waits
    /// for creations in flight, never races one.
    pub fn begin_create(&self) -> Result<(), TableError> {
        let mut inner = lock(&self.inner);
        if inner.shutting_down {
            return Err(TableError::ShuttingDown);
        }
        inner.creating += 1;
        Ok(())
    }

    /// Ends a creation announced by [`begin_create`](Self::begin_create): records the new
    /// interpreter, or with `None` records that the creation failed.
    pub fn finish_create(&self, created: Option<(i64, H, bool)>) {
        let mut inner = lock(&self.inner);
        inner.creating -= 1;
        if let Some((id, handle, isolated)) = created {
            inner.records.insert(id, Record::new(handle, isolated));
        }
        self.announce(inner);
    }

    /// Records an interpreter in one step ([`begin_create`](Self::begin_create) and
    /// [`finish_create`](Self::finish_create) without the shutdown check).
    pub fn insert(&self, id: i64, handle: H, isolated: bool) {
        lock(&self.inner).records.insert(id, Record::new(handle, isolated));
    }

    /// Ids of the interpreters alive (not closing), in creation order.
    pub fn ids(&self) -> Vec<i64> {
        let inner = lock(&self.inner);
        inner.records.iter().filter(|(_, r)| !r.closing).map(|(id, _)| *id).collect()
    }

    /// True if `id` is alive here.
    pub fn contains(&self, id: i64) -> bool {
        lock(&self.inner).records.get(&id).is_some_and(|r| !r.closing)
    }

    /// Whether `id` was created isolated (own GIL).
    pub fn is_isolated(&self, id: i64) -> Result<bool, TableError> {
        self.with_live(id, |record| record.isolated)
    }

    /// Whether `id` is running code now.
    pub fn is_running(&self, id: i64) -> Result<bool, TableError> {
        self.with_live(id, |record| record.runner.is_some())
    }

    /// Marks `id` as running on `thread` and returns its handle. Refused if it is closed or
    /// closing, already running, or the process is shutting down.
    pub fn begin_run(&self, id: i64, thread: u64) -> Result<H, TableError> {
        let mut inner = lock(&self.inner);
        if inner.shutting_down {
            return Err(TableError::ShuttingDown);
        }
        let record = live(&mut inner.records, id)?;
        if let Some(runner) = record.runner {
            return Err(TableError::Running(runner));
        }
        record.runner = Some(thread);
        Ok(record.handle)
    }

    /// Ends a run started by [`begin_run`](Self::begin_run).
    pub fn end_run(&self, id: i64) {
        let mut inner = lock(&self.inner);
        if let Some(record) = inner.records.get_mut(&id) {
            record.runner = None;
        }
        self.announce(inner);
    }

    /// Reserves `id` for a short use of its handle by a thread that does not run code in it (the
    /// exit hook asking running code to stop): the interpreter cannot be closed meanwhile.
    pub fn begin_visit(&self, id: i64) -> Result<H, TableError> {
        let mut inner = lock(&self.inner);
        let record = live(&mut inner.records, id)?;
        record.visitors += 1;
        Ok(record.handle)
    }

    /// Ends a visit started by [`begin_visit`](Self::begin_visit).
    pub fn end_visit(&self, id: i64) {
        let mut inner = lock(&self.inner);
        if let Some(record) = inner.records.get_mut(&id) {
            record.visitors -= 1;
        }
        self.announce(inner);
    }

    /// Starts closing `id`: returns its handle, or `Ok(None)` if it is already closed or being
    /// closed (closing twice does nothing). Refused while it runs code or is visited.
    pub fn begin_close(&self, id: i64) -> Result<Option<H>, TableError> {
        let mut inner = lock(&self.inner);
        let Some(record) = inner.records.get_mut(&id) else { return Ok(None) };
        if record.closing {
            return Ok(None);
        }
        if let Some(runner) = record.runner {
            return Err(TableError::Running(runner));
        }
        if record.visitors > 0 {
            return Err(TableError::Visited);
        }
        record.closing = true;
        Ok(Some(record.handle))
    }

    /// Gives up a close begun by [`begin_close`](Self::begin_close): the interpreter is live again.
    pub fn abandon_close(&self, id: i64) {
        let mut inner = lock(&self.inner);
        if let Some(record) = inner.records.get_mut(&id) {
            record.closing = false;
        }
        self.announce(inner);
    }

    /// Forgets an interpreter whose close has finished.
    pub fn finish_close(&self, id: i64) {
        let mut inner = lock(&self.inner);
        inner.records.remove(&id);
        self.announce(inner);
    }

    /// Releases the lock after a change and wakes the threads waiting for one, if any (they
    /// registered under the lock, so none is missed).
    fn announce(&self, inner: MutexGuard<'_, Inner<H>>) {
        let waiting = inner.waiting > 0;
        drop(inner);
        if waiting {
            self.changed.notify_all();
        }
    }

    /// Refuses every later creation and run. Returns false if shutdown had begun.
    pub fn begin_shutdown(&self) -> bool {
        !std::mem::replace(&mut lock(&self.inner).shutting_down, true)
    }

    /// True once [`begin_shutdown`](Self::begin_shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        lock(&self.inner).shutting_down
    }

    /// The interpreters still running code, with their threads.
    pub fn runners(&self) -> Vec<(i64, u64)> {
        let inner = lock(&self.inner);
        inner.records.iter().filter_map(|(id, r)| r.runner.map(|t| (*id, t))).collect()
    }

    /// Waits until no interpreter runs code and no creation is in flight, or `deadline` passes.
    /// Returns true if so.
    pub fn wait_until_idle(&self, deadline: Instant) -> bool {
        self.wait_until(deadline, |inner| inner.creating == 0 && inner.records.values().all(|r| r.runner.is_none()))
    }

    /// Waits until no close is in flight, or `deadline` passes. Returns true if so.
    pub fn wait_until_no_closes(&self, deadline: Instant) -> bool {
        self.wait_until(deadline, |inner| inner.records.values().all(|r| !r.closing))
    }

    fn wait_until(&self, deadline: Instant, done: impl Fn(&Inner<H>) -> bool) -> bool {
        let mut inner: MutexGuard<'_, Inner<H>> = lock(&self.inner);
        loop {
            if done(&inner) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            inner.waiting += 1;
            inner = wait_timeout(&self.changed, inner, deadline - now);
            inner.waiting -= 1;
        }
    }

    fn with_live<R>(&self, id: i64, f: impl FnOnce(&mut Record<H>) -> R) -> Result<R, TableError> {
        let mut inner = lock(&self.inner);
        live(&mut inner.records, id).map(f)
    }
}

impl<H> Record<H> {
    fn new(handle: H, isolated: bool) -> Self {
        Record { handle, isolated, runner: None, visitors: 0, closing: false }
    }
}

fn live<H>(records: &mut BTreeMap<i64, Record<H>>, id: i64) -> Result<&mut Record<H>, TableError> {
    match records.get_mut(&id) {
        Some(record) if !record.closing => Ok(record),
        _ => Err(TableError::NotFound),
    }
}
