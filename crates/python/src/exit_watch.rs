//! Naming the threads that Python's exit waits for in the package.
//!
//! At exit, Python joins its non-daemon threads (`threading._shutdown`, which also runs the
//! `threading._register_atexit` hooks, the pool's among them) before any `atexit` hook runs, the
//! package's included. So a non-daemon thread blocked for ever in a package call keeps the process
//! waiting, as the standard library's blocking calls would, and the exit hook never gets to
//! release it. That wait must not be silent: every blocking call records in a slot of its thread
//! what it waits in, and a watchdog, started when that join begins, says on stderr which of the
//! threads being waited for have been waiting in the package (or running code in one of our
//! interpreters) for a few seconds. Ctrl-C then stops the join (CPython's doing); the exit hook
//! runs, releases the calls, and the threads left over park instead of racing finalisation.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};

use std::time::{Duration, Instant};
use subinterpreters_core::{lock, wait_timeout};

use crate::ffi::{current_interpreter_id, none, thread_ident, Args, Owned, Param, ParamKind, PyResult, Ref, Signature};
use crate::globals::INTERPRETERS;
use crate::state::state_of_module;

/// After how long a thread that the exit waits for is named.
const WARN_AFTER: Duration = Duration::from_secs(3);
/// How often the watchdog looks.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// The package calls that block, as the report names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Call {
    Recv = 1,
    RecvIteration,
    Send,
    Get,
    GetIteration,
    Put,
    PutMany,
    Select,
    Acquire,
    EventWait,
    ConditionWait,
    BarrierWait,
}

impl Call {
    const ALL: [Call; 12] = [
        Call::Recv,
        Call::RecvIteration,
        Call::Send,
        Call::Get,
        Call::GetIteration,
        Call::Put,
        Call::PutMany,
        Call::Select,
        Call::Acquire,
        Call::EventWait,
        Call::ConditionWait,
        Call::BarrierWait,
    ];

    fn name(self) -> &'static str {
        match self {
            Call::Recv => "RecvChannel.recv",
            Call::RecvIteration => "iterating over a RecvChannel",
            Call::Send => "SendChannel.send",
            Call::Get => "Queue.get",
            Call::GetIteration => "iterating over a Queue",
            Call::Put => "Queue.put",
            Call::PutMany => "Queue.put_many",
            Call::Select => "select",
            Call::Acquire => "acquire of a Lock, RLock or Semaphore",
            Call::EventWait => "Event.wait",
            Call::ConditionWait => "Condition.wait",
            Call::BarrierWait => "Barrier.wait",
        }
    }

    fn from_u8(value: u8) -> Option<Call> {
        Call::ALL.into_iter().find(|call| *call as u8 == value)
    }
}

// ---- what each thread waits in ------------------------------------------------------------------

/// One thread's record, written only by that thread.
struct Slot {
    thread: u64,
    /// The `Call` it is blocked in, or 0.
    call: AtomicU8,
    /// The interpreter it was attached to when it blocked.
    interp: AtomicI64,
    /// Counts its blocking calls, so that two looks can tell one long wait from two short ones.
    epoch: AtomicU64,
}

static SLOTS: Mutex<Vec<Weak<Slot>>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's slot, registered on its first blocking call (dropped with the thread).
    static SLOT: OnceCell<Arc<Slot>> = const { OnceCell::new() };
}

fn new_slot() -> Arc<Slot> {
    let slot = Arc::new(Slot {
        thread: thread_ident(),
        call: AtomicU8::new(0),
        interp: AtomicI64::new(0),
        epoch: AtomicU64::new(0),
    });
    let mut slots = lock(&SLOTS);
    slots.retain(|slot| slot.strong_count() > 0);
    slots.push(Arc::downgrade(&slot));
    slot
}

/// Marks the calling thread (attached) as blocked in `call` until the guard is dropped.
pub(crate) fn blocked_in(call: Call) -> Blocked {
    let interp = current_interpreter_id();
    let _ = SLOT.try_with(|cell| {
        let slot = cell.get_or_init(new_slot);
        slot.interp.store(interp, Ordering::Relaxed);
        slot.epoch.fetch_add(1, Ordering::Relaxed);
        slot.call.store(call as u8, Ordering::Release);
    });
    Blocked(())
}

/// The calling thread is blocked in a package call while this lives.
pub(crate) struct Blocked(());

impl Drop for Blocked {
    fn drop(&mut self) {
        let _ = SLOT.try_with(|cell| {
            if let Some(slot) = cell.get() {
                slot.call.store(0, Ordering::Release);
            }
        });
    }
}

/// What a thread was seen doing in the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Blocked { call: Call, interp: i64, epoch: u64 },
    Running { interp: i64 },
}

/// What every thread in the package is doing now, by thread.
fn look() -> HashMap<u64, Seen> {
    let mut seen = HashMap::new();
    for (interp, thread) in INTERPRETERS.runners() {
        seen.insert(thread, Seen::Running { interp });
    }
    for slot in lock(&SLOTS).iter().filter_map(Weak::upgrade) {
        let call = slot.call.load(Ordering::Acquire);
        if let Some(call) = Call::from_u8(call) {
            let interp = slot.interp.load(Ordering::Relaxed);
            let epoch = slot.epoch.load(Ordering::Relaxed);
            seen.insert(slot.thread, Seen::Blocked { call, interp, epoch });
        }
    }
    seen
}

// ---- the watchdog -------------------------------------------------------------------------------

/// Set when the exit's join begins (with the threads it waits for), cleared when it ends.
struct Watch {
    armed: Mutex<Option<HashMap<u64, String>>>,
    changed: Condvar,
}

static WATCH: Watch = Watch { armed: Mutex::new(None), changed: Condvar::new() };

static EXIT_JOIN_BEGINS_SIGNATURE: Signature<1> = Signature {
    function: "_exit_join_begins",
    params: [Param { name: c"threads", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

/// `_exit_join_begins(threads)`: called by the package's wrapper of `threading._shutdown`, in the
/// main interpreter, with `((ident, name), ...)` of the non-daemon threads it will wait for.
pub(crate) fn exit_join_begins(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    state_of_module(module)?;
    let [threads] = args.parse(&EXIT_JOIN_BEGINS_SIGNATURE)?;
    let mut names = HashMap::new();
    for pair in threads.expect("required").tuple_items() {
        let mut fields = pair.tuple_items();
        let (Some(ident), Some(name)) = (fields.next(), fields.next()) else { continue };
        names.insert(ident.int_as_i64()?.unwrap_or(0) as u64, name.str_lossy());
    }
    let mut armed = lock(&WATCH.armed);
    if armed.is_none() && !names.is_empty() {
        *armed = Some(names);
        // A plain thread: it never touches Python, so it cannot disturb finalisation.
        let _ = std::thread::Builder::new().name("subinterpreters-exit-watch".into()).spawn(watch);
    }
    Ok(none())
}

/// The exit's join is over (the exit hook runs): the watchdog stops.
pub(crate) fn exit_join_ended() {
    lock(&WATCH.armed).take();
    WATCH.changed.notify_all();
}

fn watch() {
    let began = Instant::now();
    // Per thread: what it was doing when last seen, and since when.
    let mut since: HashMap<u64, (Seen, Instant)> = HashMap::new();
    // Threads named already: each is named once (one that qualifies later gets a line of its own).
    let mut reported: HashSet<u64> = HashSet::new();
    let mut armed = lock(&WATCH.armed);
    loop {
        armed = wait_timeout(&WATCH.changed, armed, LOOK_EVERY);
        let Some(names) = armed.as_ref() else { return };
        let now = Instant::now();
        let seen = look();
        since.retain(|thread, (was, _)| seen.get(thread) == Some(was));
        for (thread, what) in seen {
            if names.contains_key(&thread) {
                since.entry(thread).or_insert((what, now));
            }
        }
        if now.duration_since(began) < WARN_AFTER {
            continue;
        }
        let mut long: Vec<(u64, Seen)> = since
            .iter()
            .filter(|(thread, (_, from))| !reported.contains(thread) && now.duration_since(*from) >= WARN_AFTER)
            .map(|(thread, (what, _))| (*thread, *what))
            .collect();
        if long.is_empty() {
            continue;
        }
        long.sort_by_key(|(thread, _)| names.get(thread).cloned());
        eprintln!("{}", report(names, &long, reported.is_empty()));
        reported.extend(long.iter().map(|(thread, _)| *thread));
    }
}

fn report(names: &HashMap<u64, String>, long: &[(u64, Seen)], first: bool) -> String {
    let mut text = if first {
        format!(
            "subinterpreters: at exit, Python waits for its non-daemon threads to end (as threading \
             always does); {} of them {} been waiting in the package for {} s or more:",
            long.len(),
            if long.len() == 1 { "has" } else { "have" },
            WARN_AFTER.as_secs()
        )
    } else {
        format!("subinterpreters: at exit, also waiting in the package for {} s or more:", WARN_AFTER.as_secs())
    };
    for (thread, what) in long {
        let name = names.get(thread).map_or("?", String::as_str);
        let line = match *what {
            Seen::Blocked { call, interp: 0, .. } => format!("thread '{name}' waits in {}", call.name()),
            Seen::Blocked { call, interp, .. } => {
                format!("thread '{name}' waits in {}, in interpreter {interp}", call.name())
            }
            Seen::Running { interp } => format!("thread '{name}' runs code in interpreter {interp}"),
        };
        text.push_str("\n  ");
        text.push_str(&line);
    }
    if !first {
        return text;
    }
    text.push_str(
        "\nMake them end (close what they wait on, or give them a timeout), or press Ctrl-C to stop \
         waiting: the exit then releases their calls.",
    );
    text
}
