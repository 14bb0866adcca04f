//! The values of the package's marker objects: `si.CLOSED` and the `UNBOUND` markers.

/// The value carried by `si.CLOSED` (nothing: it is a singleton per interpreter).
pub(crate) struct ClosedSentinel;

/// CPython's flag numbers (its `_crossinterp` module), kept with each queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Unbound {
    Remove = 1,
    Error = 2,
    Replace = 3,
}

impl Unbound {
    pub(crate) fn from_flag(flag: u8) -> Unbound {
        match flag {
            1 => Unbound::Remove,
            2 => Unbound::Error,
            _ => Unbound::Replace,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Unbound::Remove => "UNBOUND_REMOVE",
            Unbound::Error => "UNBOUND_ERROR",
            Unbound::Replace => "UNBOUND",
        }
    }
}
