//! The package's exception classes (one set per interpreter, in module state) and the single
//! place where every failure becomes a Python exception.

mod remote;

use std::ffi::c_int;

use subinterpreters_core::{LeaseHolder, TableError};

use crate::ffi::{
    add_module_object, builtin, import_module, new_exception_class, raise, raise_instance, str_from_utf8_surrogatepass,
    tuple, Builtin, Owned, PyResult, Raised, Ref,
};

pub(crate) use remote::{RemoteError, RemoteText};

/// The exception classes of one interpreter.
pub(crate) struct ErrorClasses {
    interpreter_error: Owned,
    interpreter_not_found: Owned,
    interpreter_running: Owned,
    run_failed: Owned,
    not_shareable: Owned,
    channel_error: Owned,
    channel_closed: Owned,
    channel_empty: Owned,
    queue_error: Owned,
    queue_empty: Owned,
    queue_full: Owned,
    queue_closed: Owned,
    queue_not_found: Owned,
}

impl ErrorClasses {
    /// Creates the classes and adds them (and the `ExecutionFailed` alias) to `module`.
    pub(crate) fn create(module: Ref<'_>) -> PyResult<Self> {
        let cpython = CPythonClasses::import()?;
        // Each class also derives from CPython's class of the same name where CPython has one
        // (3.13+), so `except concurrent.interpreters.InterpreterError` catches ours too.
        let bases = |ours: Vec<Ref<'_>>, theirs: Option<&Owned>| -> PyResult<Owned> {
            let mut all: Vec<Owned> = ours.into_iter().map(Ref::to_owned).collect();
            all.extend(theirs.cloned());
            tuple(all)
        };
        let interpreter_error = new_exception_class(
            c"subinterpreters.InterpreterError",
            c"Base class for errors about interpreters.",
            match &cpython.interpreter_error {
                Some(theirs) => theirs.clone(),
                None => builtin(Builtin::Exception).to_owned(),
            }
            .as_ref(),
        )?;
        let interpreter_not_found = new_exception_class(
            c"subinterpreters.InterpreterNotFoundError",
            c"The interpreter was closed (or never existed).",
            bases(vec![interpreter_error.as_ref()], cpython.interpreter_not_found.as_ref())?.as_ref(),
        )?;
        // CPython raises InterpreterError where the package always raised RuntimeError: this
        // class is both.
        let interpreter_running = new_exception_class(
            c"subinterpreters.InterpreterRunningError",
            c"The interpreter is running code, so it cannot run more or be closed now (the main\n\
              interpreter and the caller's own always are). Also a RuntimeError.",
            tuple(vec![interpreter_error.clone(), builtin(Builtin::RuntimeError).to_owned()])?.as_ref(),
        )?;
        let run_failed = new_exception_class(
            // Named as CPython's class, so tracebacks read `ExecutionFailed: ...` as there;
            // `RunFailedError` is the package's older name for it.
            c"subinterpreters.ExecutionFailed",
            c"Code run in another interpreter raised an exception it did not catch (also\n\
              available as RunFailedError).\n\n\
              Attributes: type_name (the remote exception's type, e.g. 'ZeroDivisionError'), \
              msg (its str()), traceback (the formatted remote traceback), excinfo (CPython \
              3.14's description: type, msg, formatted, errdisplay).",
            interpreter_error.as_ref(),
        )?;
        let mut not_shareable_bases: Vec<Owned> = cpython.not_shareable.iter().cloned().collect();
        not_shareable_bases.push(builtin(Builtin::ValueError).to_owned());
        not_shareable_bases.push(builtin(Builtin::TypeError).to_owned());
        let not_shareable = new_exception_class(
            c"subinterpreters.NotShareableError",
            c"The object cannot cross to another interpreter; nothing was sent or bound.",
            tuple(not_shareable_bases)?.as_ref(),
        )?;
        let channel_error = new_exception_class(
            c"subinterpreters.ChannelError",
            c"Base class for channel errors.",
            builtin(Builtin::RuntimeError),
        )?;
        let channel_closed = new_exception_class(
            c"subinterpreters.ChannelClosedError",
            c"The channel (the end needed by the call) is closed.",
            channel_error.as_ref(),
        )?;
        let channel_empty = new_exception_class(
            c"subinterpreters.ChannelEmptyError",
            c"recv_nowait() found nothing ready and no default was given.",
            channel_error.as_ref(),
        )?;
        // QueueEmpty and QueueFull are also the stdlib's queue.Empty and queue.Full, so code
        // written for queue.Queue catches them unchanged.
        let stdlib_queue = import_module(c"queue")?;
        let queue_error = new_exception_class(
            c"subinterpreters.QueueError",
            c"Base class for queue errors.",
            match &cpython.queue_error {
                Some(theirs) => theirs.clone(),
                None => builtin(Builtin::RuntimeError).to_owned(),
            }
            .as_ref(),
        )?;
        let queue_empty = new_exception_class(
            c"subinterpreters.QueueEmpty",
            c"get() found nothing before its timeout (or at once, when not blocking). Also a queue.Empty.",
            tuple(vec![queue_error.clone(), stdlib_queue.as_ref().getattr(c"Empty")?])?.as_ref(),
        )?;
        let queue_full = new_exception_class(
            c"subinterpreters.QueueFull",
            c"put() found no room before its timeout (or at once, when not blocking). Also a queue.Full.",
            tuple(vec![queue_error.clone(), stdlib_queue.as_ref().getattr(c"Full")?])?.as_ref(),
        )?;
        let queue_closed = new_exception_class(
            c"subinterpreters.QueueClosedError",
            c"The queue is closed (for get: closed and drained).",
            queue_error.as_ref(),
        )?;
        let queue_not_found = new_exception_class(
            c"subinterpreters.QueueNotFoundError",
            c"No live queue has the id given to Queue(id).",
            bases(vec![queue_error.as_ref()], cpython.queue_not_found.as_ref())?.as_ref(),
        )?;
        let classes = ErrorClasses {
            interpreter_error,
            interpreter_not_found,
            interpreter_running,
            run_failed,
            not_shareable,
            channel_error,
            channel_closed,
            channel_empty,
            queue_error,
            queue_empty,
            queue_full,
            queue_closed,
            queue_not_found,
        };
        for (name, class) in [
            (c"InterpreterError", &classes.interpreter_error),
            (c"InterpreterNotFoundError", &classes.interpreter_not_found),
            (c"InterpreterRunningError", &classes.interpreter_running),
            (c"RunFailedError", &classes.run_failed),
            (c"ExecutionFailed", &classes.run_failed),
            (c"NotShareableError", &classes.not_shareable),
            (c"ChannelError", &classes.channel_error),
            (c"ChannelClosedError", &classes.channel_closed),
            (c"ChannelEmptyError", &classes.channel_empty),
            (c"QueueError", &classes.queue_error),
            (c"QueueEmpty", &classes.queue_empty),
            (c"QueueFull", &classes.queue_full),
            (c"QueueClosedError", &classes.queue_closed),
            (c"QueueNotFoundError", &classes.queue_not_found),
        ] {
            add_module_object(module, name, class.as_ref())?;
        }
        Ok(classes)
    }

    /// `NotShareableError` of this interpreter.
    pub(crate) fn not_shareable_class(&self) -> Ref<'_> {
        self.not_shareable.as_ref()
    }

    /// Visits every class (for the GC).
    pub(crate) fn for_each(&self, visit: &mut dyn FnMut(Ref<'_>) -> c_int) -> c_int {
        for class in [
            &self.interpreter_error,
            &self.interpreter_not_found,
            &self.interpreter_running,
            &self.run_failed,
            &self.not_shareable,
            &self.channel_error,
            &self.channel_closed,
            &self.channel_empty,
            &self.queue_error,
            &self.queue_empty,
            &self.queue_full,
            &self.queue_closed,
            &self.queue_not_found,
        ] {
            let rc = visit(class.as_ref());
            if rc != 0 {
                return rc;
            }
        }
        0
    }
}

/// CPython's own exception classes for interpreters and queues (3.13+, in its `_interpreters`
/// and `_interpqueues` modules), when this CPython has them.
#[derive(Default)]
struct CPythonClasses {
    interpreter_error: Option<Owned>,
    interpreter_not_found: Option<Owned>,
    not_shareable: Option<Owned>,
    queue_error: Option<Owned>,
    queue_not_found: Option<Owned>,
}

impl CPythonClasses {
    /// CPython's classes, or none if its modules are missing (a build without them).
    #[cfg(Py_3_13)]
    fn import() -> PyResult<Self> {
        let found = (|| -> PyResult<Self> {
            let interpreters = import_module(c"_interpreters")?;
            let queues = import_module(c"_interpqueues")?;
            Ok(CPythonClasses {
                interpreter_error: Some(interpreters.as_ref().getattr(c"InterpreterError")?),
                interpreter_not_found: Some(interpreters.as_ref().getattr(c"InterpreterNotFoundError")?),
                not_shareable: Some(interpreters.as_ref().getattr(c"NotShareableError")?),
                queue_error: Some(queues.as_ref().getattr(c"QueueError")?),
                queue_not_found: Some(queues.as_ref().getattr(c"QueueNotFoundError")?),
            })
        })();
        Ok(found.unwrap_or_else(|_| {
            crate::ffi::clear_error();
            CPythonClasses::default()
        }))
    }

    #[cfg(not(Py_3_13))]
    fn import() -> PyResult<Self> {
        Ok(CPythonClasses::default())
    }
}

/// Every failure the binding reports, whatever layer it comes from.
#[derive(Debug)]
pub(crate) enum Error {
    /// The end needed by a channel call is closed.
    ChannelClosed,
    /// The queue is closed (for a get: closed and drained).
    QueueClosed,
    /// A pickle of a shared object cannot be unpickled here (why).
    NotRevivable(String),
    /// No interpreter can have this id (the text is the id asked for: out of range).
    NoSuchInterpreter(String),
    /// No live queue has this id (the text is the id asked for).
    QueueNotFound(String),
    /// A get found nothing in time.
    QueueEmpty,
    /// A put found no room in time; its object was not queued.
    QueueFull,
    /// A select's timeout expired: nothing was sent or taken.
    SelectTimedOut,
    /// `Lock.release()` on an unlocked lock.
    ReleaseUnlocked,
    /// An `RLock` (or a condition's lock) released, or waited or notified on, by a thread that
    /// does not hold it; the text says which call.
    NotHeld(&'static str),
    /// A `BoundedSemaphore` released more times than acquired.
    TooManyReleases,
    /// The barrier is broken (aborted, reset while waiting, or a wait timed out).
    BrokenBarrier,
    /// `recv_nowait()` without a default found nothing.
    ChannelEmpty,
    /// A send's timeout expired: the object was withdrawn.
    SendTimedOut,
    /// A receive's timeout expired.
    RecvTimedOut,
    /// An object cannot cross interpreters (the reason says which and why).
    NotShareable(String),
    /// The interpreter table refused an operation on interpreter `id`.
    Interpreter { id: i64, refusal: TableError },
    /// Other code (not ours: `concurrent.interpreters`, say) runs in interpreter `id` now.
    RunningElsewhere { id: i64 },
    /// The main interpreter is always running: nothing can be run in it from here.
    MainIsRunning { action: &'static str },
    /// An interpreter cannot run code in, or close, itself.
    IsCurrent { id: i64, action: &'static str },
    /// CPython could not create an interpreter.
    CreateFailed(String),
    /// Code run in another interpreter raised.
    RunFailed(RemoteError),
    /// `source` contains a NUL character.
    SourceHasNul,
    /// Threads that would not be joined (daemon threads) still run in the interpreter.
    ThreadsStillRunning { id: i64, count: usize },
    /// Preparing the interpreter for its end raised inside it.
    CloseFailed { id: i64, reason: String },
    /// Another interpreter still views (or a channel still carries) a buffer this one lent.
    BufferLent { id: i64, holder: LeaseHolder },
    /// send_buffer from an interpreter the package cannot keep alive for the lease.
    CannotLend { id: i64 },
    /// The C API was given an object that is not a queue or channel end (its type's name).
    NotAnEndpoint(String),
    /// The C API's codes that mean a misuse or a failure of its own (see `c_api`).
    CApi(CApiFailure),
}

/// The C API's result codes that have no exception of a Python call (include/subinterpreters.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CApiFailure {
    /// A channel send or receive with a timeout (Python's calls say which of the two it was).
    TimedOut,
    BadHandle,
    WrongKind,
    UnsupportedItem,
    InvalidArgument,
    NoMemory,
    Internal,
    /// Not a code of the API at all.
    UnknownCode(i32),
}

/// Raises the Python exception for `error`, using the classes of the current interpreter.
pub(crate) fn raise_error(classes: &ErrorClasses, error: Error) -> Raised {
    match error {
        Error::ChannelClosed => raise(classes.channel_closed.as_ref(), "the channel is closed"),
        Error::ChannelEmpty => raise(classes.channel_empty.as_ref(), "nothing to receive: the channel is empty"),
        Error::QueueClosed => raise(classes.queue_closed.as_ref(), "the queue is closed"),
        Error::NotRevivable(why) => raise(builtin(Builtin::ValueError), &format!("cannot unpickle: {why}")),
        Error::NoSuchInterpreter(id) => {
            raise(classes.interpreter_not_found.as_ref(), &format!("interpreter {id} does not exist"))
        }
        Error::QueueNotFound(id) => raise(classes.queue_not_found.as_ref(), &format!("queue {id} not found")),
        Error::QueueEmpty => raise(classes.queue_empty.as_ref(), "the queue is empty"),
        Error::QueueFull => raise(classes.queue_full.as_ref(), "the queue is full; the object was not put"),
        Error::ReleaseUnlocked => raise(builtin(Builtin::RuntimeError), "release unlocked lock"),
        Error::NotHeld(call) => raise(builtin(Builtin::RuntimeError), &format!("cannot {call} un-acquired lock")),
        Error::TooManyReleases => raise(builtin(Builtin::ValueError), "Semaphore released too many times"),
        Error::BrokenBarrier => match import_module(c"threading")
            .and_then(|threading| threading.as_ref().getattr(c"BrokenBarrierError"))
        {
            Ok(class) => raise(class.as_ref(), ""),
            Err(raised) => raised,
        },
        Error::SelectTimedOut => raise(
            builtin(Builtin::TimeoutError),
            "no case of the select was ready before the timeout; nothing was sent or taken",
        ),
        Error::SendTimedOut => raise(
            builtin(Builtin::TimeoutError),
            "no receiver took the object before the timeout; it was withdrawn and will not be delivered",
        ),
        Error::RecvTimedOut => raise(builtin(Builtin::TimeoutError), "nothing was received before the timeout"),
        Error::NotAnEndpoint(type_name) => raise(
            builtin(Builtin::TypeError),
            &format!("expected a subinterpreters Queue, SendChannel or RecvChannel, not {type_name}"),
        ),
        Error::CApi(failure) => raise_c_api_failure(failure),
        Error::NotShareable(reason) => raise(classes.not_shareable.as_ref(), &reason),
        Error::Interpreter { id, refusal } => match refusal {
            TableError::NotFound => raise(
                classes.interpreter_not_found.as_ref(),
                &format!("interpreter {id} does not exist (it was closed, or never existed)"),
            ),
            TableError::Running(thread) => raise(
                classes.interpreter_running.as_ref(),
                &format!(
                    "interpreter {id} is running code (in thread {thread}); wait for that run to finish first"
                ),
            ),
            TableError::Visited => raise(
                classes.interpreter_running.as_ref(),
                &format!("interpreter {id} is being used by another thread (the exit hook); try again"),
            ),
            TableError::ShuttingDown => raise(
                classes.interpreter_error.as_ref(),
                "the process is shutting down: interpreters no longer run code",
            ),
        },
        Error::RunningElsewhere { id } => raise(
            classes.interpreter_running.as_ref(),
            &format!("interpreter {id} is running code (started by other code); wait for that run to finish first"),
        ),
        Error::MainIsRunning { action } => raise(
            classes.interpreter_running.as_ref(),
            &format!("cannot {action} the main interpreter: it is always running"),
        ),
        Error::IsCurrent { id, action } => raise(
            classes.interpreter_running.as_ref(),
            &format!("cannot {action} interpreter {id} from inside itself: it is running the caller"),
        ),
        Error::CreateFailed(reason) => raise(
            classes.interpreter_error.as_ref(),
            &format!("could not create an interpreter: {reason}"),
        ),
        Error::RunFailed(remote) => match run_failed_instance(classes, remote) {
            Ok(exc) => raise_instance(exc),
            Err(raised) => raised,
        },
        Error::ThreadsStillRunning { id, count } => raise(
            builtin(Builtin::RuntimeError),
            &format!(
                "cannot close interpreter {id}: {count} thread(s) that would not be joined (daemon \
                 threads) are still running in it; stop them first (CPython aborts the process if \
                 an interpreter is ended under a running thread)"
            ),
        ),
        Error::BufferLent { id, holder } => raise(
            builtin(Builtin::RuntimeError),
            &match holder {
                LeaseHolder::Interpreter(holder) => format!(
                    "cannot close interpreter {id}: interpreter {holder} still holds a view of a buffer interpreter {id} lent with send_buffer(); release that memoryview there first"
                ),
                LeaseHolder::InFlight => format!(
                    "cannot close interpreter {id}: a buffer it lent with send_buffer() is still in a channel, not received; receive it (and release the view) or close the channel first"
                ),
            },
        ),
        Error::CannotLend { id } => raise(
            builtin(Builtin::RuntimeError),
            &format!(
                "send_buffer() is not available in interpreter {id}: only the main interpreter and interpreters made by subinterpreters.create() can lend buffers"
            ),
        ),
        Error::CloseFailed { id, reason } => raise(
            classes.interpreter_error.as_ref(),
            &format!("could not close interpreter {id}: {reason}"),
        ),
        Error::SourceHasNul => raise(
            builtin(Builtin::ValueError),
            "source code string cannot contain null bytes",
        ),
    }
}

/// `RunFailedError` (= `ExecutionFailed`) for `remote`: `str()` as CPython's `ExecutionFailed`
/// shows it (the summary, then the remote traceback), the package's `type_name`, `msg` and
/// `traceback`, CPython 3.14's `excinfo` (`type.__name__/__qualname__/__module__`, `msg`,
/// `formatted`, `errdisplay`) and, when the exception could be pickled, the rebuilt exception as
/// `__cause__`.
fn run_failed_instance(classes: &ErrorClasses, remote: RemoteError) -> PyResult<Owned> {
    let text = |bytes: &[u8]| str_from_utf8_surrogatepass(bytes);
    let module = &remote.type_module.0;
    // The last line of a traceback: the type, module-qualified unless builtin or __main__.
    let mut formatted = Vec::new();
    if !module.is_empty() && module != b"builtins" && module != b"__main__" {
        formatted.extend_from_slice(module);
        formatted.push(b'.');
    }
    formatted.extend_from_slice(&remote.type_name.0);
    if !remote.message.is_empty() {
        formatted.extend_from_slice(b": ");
        formatted.extend_from_slice(&remote.message.0);
    }
    let mut errdisplay = remote.traceback.0.clone();
    while errdisplay.last() == Some(&b'\n') {
        errdisplay.pop();
    }
    if errdisplay.is_empty() {
        errdisplay = formatted.clone();
    }
    let mut shown = formatted.clone();
    shown.extend_from_slice(b"\n\nUncaught in the interpreter:\n\n");
    shown.extend_from_slice(&errdisplay);

    let exc = classes.run_failed.as_ref().call(&[text(&shown)?.as_ref()])?;
    exc.as_ref().setattr(c"type_name", text(&remote.type_name.0)?.as_ref())?;
    exc.as_ref().setattr(c"msg", text(&remote.message.0)?.as_ref())?;
    exc.as_ref().setattr(c"traceback", text(&remote.traceback.0)?.as_ref())?;

    let namespace = import_module(c"types")?.as_ref().getattr(c"SimpleNamespace")?;
    let short_name = remote.type_name.0.rsplit(|&byte| byte == b'.').next().unwrap_or(&[]);
    let exc_type = namespace.as_ref().call(&[])?;
    exc_type.as_ref().setattr(c"__name__", text(short_name)?.as_ref())?;
    exc_type.as_ref().setattr(c"__qualname__", text(&remote.type_name.0)?.as_ref())?;
    exc_type.as_ref().setattr(c"__module__", text(module)?.as_ref())?;
    let excinfo = namespace.as_ref().call(&[])?;
    excinfo.as_ref().setattr(c"type", exc_type.as_ref())?;
    excinfo.as_ref().setattr(c"msg", text(&remote.message.0)?.as_ref())?;
    excinfo.as_ref().setattr(c"formatted", text(&formatted)?.as_ref())?;
    excinfo.as_ref().setattr(c"errdisplay", text(&errdisplay)?.as_ref())?;
    exc.as_ref().setattr(c"excinfo", excinfo.as_ref())?;

    if let Some(pickled) = &remote.pickled {
        if let Some(cause) = rebuild(pickled) {
            exc.as_ref().set_cause(cause);
        }
    }
    Ok(exc)
}

/// The exception pickled by the remote side, rebuilt here, if it can be (else nothing: the
/// text describes it anyway).
fn rebuild(pickled: &[u8]) -> Option<Owned> {
    let rebuilt = import_module(c"pickle")
        .and_then(|pickle| pickle.as_ref().getattr(c"loads"))
        .and_then(|loads| loads.as_ref().call(&[crate::ffi::bytes_from(pickled)?.as_ref()]));
    match rebuilt {
        Ok(cause) if cause.as_ref().is_exception_instance() => Some(cause),
        Ok(_) => None,
        Err(_) => {
            crate::ffi::clear_error();
            None
        }
    }
}

fn raise_c_api_failure(failure: CApiFailure) -> Raised {
    let (class, message) = match failure {
        CApiFailure::TimedOut => (Builtin::TimeoutError, "the channel operation did not complete before its timeout"),
        CApiFailure::BadHandle => {
            (Builtin::ValueError, "not a live subinterpreters handle (NULL, released, or not one)")
        }
        CApiFailure::WrongKind => {
            (Builtin::TypeError, "the handle cannot do that (a get on a send end, or a put on a receive end)")
        }
        CApiFailure::UnsupportedItem => {
            (Builtin::TypeError, "the next item is neither bytes nor a shared memory block; it was left in place")
        }
        CApiFailure::InvalidArgument => (Builtin::ValueError, "invalid argument to a subinterpreters C API function"),
        CApiFailure::NoMemory => (Builtin::MemoryError, "out of memory in the subinterpreters C API"),
        CApiFailure::Internal => (Builtin::SystemError, "internal error in the subinterpreters C API"),
        CApiFailure::UnknownCode(code) => {
            return raise(
                builtin(Builtin::SystemError),
                &format!("{code} is not an error code of the subinterpreters C API"),
            )
        }
    };
    raise(builtin(class), message)
}
