//! An uncaught exception of another interpreter, as text (and maybe a pickle) that can cross
//! back: what `RunFailedError` is built from.

/// An uncaught exception in another interpreter, as text that can cross back.
#[derive(Debug, Clone)]
pub(crate) struct RemoteError {
    /// The exception type's `__qualname__`.
    pub(crate) type_name: RemoteText,
    /// The exception type's `__module__`.
    pub(crate) type_module: RemoteText,
    pub(crate) message: RemoteText,
    pub(crate) traceback: RemoteText,
    /// The exception itself, pickled, when pickle could carry it (calls only): the caller
    /// rebuilds it as the `__cause__` of its RunFailedError.
    pub(crate) pickled: Option<Box<[u8]>>,
}

/// A Python str as UTF-8 with lone surrogates encoded too (`surrogatepass`), so that the caller
/// rebuilds exactly the remote text; `Display` shows it with U+FFFD for those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RemoteText(pub(crate) Vec<u8>);

impl From<&str> for RemoteText {
    fn from(text: &str) -> Self {
        RemoteText(text.as_bytes().to_vec())
    }
}

impl std::fmt::Display for RemoteText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl RemoteText {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
