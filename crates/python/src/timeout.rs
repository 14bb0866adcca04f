//! The `timeout` argument: float seconds, `None` for no limit, `0` for "try once".

use std::time::{Duration, Instant};

use crate::ffi::{builtin, raise, Builtin, PyResult, Ref};

/// A parsed timeout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Timeout {
    /// Wait as long as it takes (`None`, or a timeout too large to matter).
    Never,
    /// Do not wait: succeed only if the peer is ready now (`0`).
    TryOnce,
    /// Wait until this instant.
    Until(Instant),
}

impl Timeout {
    /// The instant to give up at, if any (try-once counts as now).
    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            Timeout::Never => None,
            Timeout::TryOnce => Some(Instant::now()),
            Timeout::Until(deadline) => Some(deadline),
        }
    }
}

/// Parses `timeout=None | float seconds`, measured from now. Negative and NaN values are
/// refused with ValueError; non-numbers with TypeError.
pub(crate) fn parse_timeout(value: Option<Ref<'_>>) -> PyResult<Timeout> {
    let Some(value) = value.filter(|value| !value.is_none()) else { return Ok(Timeout::Never) };
    let seconds = value.float_value().map_err(|raised| {
        // Replace CPython's "must be real number" with a message that names the argument.
        crate::ffi::clear_error();
        let _ = raised;
        raise(
            builtin(Builtin::TypeError),
            &format!("timeout must be a number of seconds or None, not {}", value.type_qualname()),
        )
    })?;
    if seconds.is_nan() || seconds < 0.0 {
        return Err(raise(
            builtin(Builtin::ValueError),
            &format!("timeout must be a non-negative number of seconds or None, not {seconds}"),
        ));
    }
    if seconds == 0.0 {
        return Ok(Timeout::TryOnce);
    }
    let deadline = Duration::try_from_secs_f64(seconds).ok().and_then(|duration| Instant::now().checked_add(duration));
    Ok(deadline.map_or(Timeout::Never, Timeout::Until))
}
