//! Count arguments (`max_items`, a semaphore's value, `n`, `parties`): Python ints of any size.
//! A count too large for memory to matter is clamped (a semaphore with 10**100 permits behaves
//! like one with `usize::MAX`), so only the type and the lower bound can be wrong.

use crate::ffi::{builtin, raise, Builtin, ObjKind, PyResult, Ref};

/// `value` as a count of at least `min`: TypeError if it is not an int (bool included, as
/// everywhere in the package), ValueError (`below`, the rule in words) if it is smaller.
pub(crate) fn count_arg(value: Ref<'_>, what: &str, min: usize, below: &str) -> PyResult<usize> {
    if value.kind() != ObjKind::Int {
        return Err(raise(
            builtin(Builtin::TypeError),
            &format!("{what} must be an int, not {}", value.type_qualname()),
        ));
    }
    let count = match value.int_as_i64()? {
        Some(small) if small < 0 => None,
        Some(small) => Some(usize::try_from(small).unwrap_or(usize::MAX)),
        // Beyond 64 bits: negative ones are below any bound, positive ones are clamped.
        None => (!value.int_to_hex()?.starts_with('-')).then_some(usize::MAX),
    };
    match count {
        Some(count) if count >= min => Ok(count),
        _ => Err(raise(builtin(Builtin::ValueError), &format!("{what} {below}, not {}", value.str_lossy()))),
    }
}
