//! Argument parsing for the fastcall convention, with CPython's wording in the errors.

use std::ffi::CStr;

use pyo3_ffi as sys;

use super::error::{builtin, raise, Builtin, PyResult};
use super::object::{Owned, Ref};

/// The arguments of one call, borrowed from the caller.
pub(crate) struct Args<'a> {
    positional: &'a [Ref<'a>],
    keywords: Keywords<'a>,
}

/// Keyword arguments as the two calling conventions pass them.
enum Keywords<'a> {
    None,
    /// Fastcall: names (a tuple of str) and their values, in call order.
    Fastcall(Ref<'a>, &'a [Ref<'a>]),
    /// `tp_new`: the pairs of a kwargs dict.
    Pairs(Vec<(Ref<'a>, Ref<'a>)>),
}

impl<'a> Keywords<'a> {
    fn pairs(&self) -> Vec<(Ref<'a>, Ref<'a>)> {
        match self {
            Keywords::None => Vec::new(),
            Keywords::Fastcall(names, values) => names.tuple_items().zip(values.iter().copied()).collect(),
            Keywords::Pairs(pairs) => pairs.clone(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Keywords::None => true,
            Keywords::Fastcall(_, values) => values.is_empty(),
            Keywords::Pairs(pairs) => pairs.is_empty(),
        }
    }
}

/// How a parameter may be passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamKind {
    PositionalOnly,
    PositionalOrKeyword,
    KeywordOnly,
}

/// One parameter of a signature.
pub(crate) struct Param {
    pub(crate) name: &'static CStr,
    pub(crate) kind: ParamKind,
    pub(crate) required: bool,
}

/// What [`Args::bind`] returns: one slot per parameter, then the extra keyword arguments.
pub(crate) type Bound<'a, const N: usize> = ([Option<Ref<'a>>; N], Vec<(Ref<'a>, Ref<'a>)>);

/// A function's parameters, in order (positional ones first), and whether it takes `**kwargs`.
pub(crate) struct Signature<const N: usize> {
    pub(crate) function: &'static str,
    pub(crate) params: [Param; N],
    pub(crate) var_keyword: bool,
}

impl<'a> Args<'a> {
    /// # Safety
    /// The fastcall contract: `args` holds `nargs` positional values followed by one value per
    /// name in `kwnames` (a tuple of str, or null), all live for the duration of the call.
    pub(super) unsafe fn from_fastcall(
        args: *const *mut sys::PyObject,
        nargs: sys::Py_ssize_t,
        kwnames: *mut sys::PyObject,
    ) -> Args<'a> {
        // SAFETY: nargs may carry PY_VECTORCALL_ARGUMENTS_OFFSET; the count is in the low bits.
        let npositional = unsafe { sys::PyVectorcall_NARGS(nargs as usize) } as usize;
        let nkeywords = if kwnames.is_null() {
            0
        } else {
            // SAFETY: kwnames is a live tuple when non-null.
            unsafe { sys::PyTuple_Size(kwnames) as usize }
        };
        let all: &'a [Ref<'a>] = if args.is_null() {
            &[]
        } else {
            // SAFETY: `Ref` is a transparent non-null pointer and the array holds
            // npositional + nkeywords live objects (fastcall contract).
            unsafe { std::slice::from_raw_parts(args.cast::<Ref<'a>>(), npositional + nkeywords) }
        };
        let (positional, values) = all.split_at(npositional);
        let keywords = if kwnames.is_null() {
            Keywords::None
        } else {
            // SAFETY: kwnames is live for the call when non-null.
            Keywords::Fastcall(unsafe { Ref::from_ptr(kwnames) }, values)
        };
        Args { positional, keywords }
    }

    /// The arguments of a `tp_new` call: `items` are the positional tuple's items (collected by
    /// the caller, who keeps them alive for `'a`), `kwargs` a dict or null.
    ///
    /// # Safety
    /// `kwargs` is null or a live dict that nobody changes during the call.
    pub(super) unsafe fn from_tuple_dict(items: &'a [Ref<'a>], kwargs: *mut sys::PyObject) -> Args<'a> {
        if kwargs.is_null() {
            return Args { positional: items, keywords: Keywords::None };
        }
        let mut pairs = Vec::new();
        let mut pos: sys::Py_ssize_t = 0;
        let mut key = std::ptr::null_mut();
        let mut value = std::ptr::null_mut();
        // SAFETY: a live dict, unchanged during the call (contract); PyDict_Next yields borrowed
        // references that stay valid while it is unchanged.
        while unsafe { sys::PyDict_Next(kwargs, &mut pos, &mut key, &mut value) } != 0 {
            // SAFETY: non-null borrowed references from PyDict_Next.
            pairs.push(unsafe { (Ref::from_ptr(key), Ref::from_ptr(value)) });
        }
        Args { positional: items, keywords: Keywords::Pairs(pairs) }
    }

    /// Calls `callable(first, *positional, **keywords)` with these arguments, as they came (a
    /// method implemented by a Python function of the package).
    pub(crate) fn forward(&self, callable: Ref<'_>, first: Ref<'_>) -> PyResult<Owned> {
        let pairs = self.keywords.pairs();
        let mut vector: Vec<*mut sys::PyObject> = Vec::with_capacity(1 + self.positional.len() + pairs.len());
        vector.push(first.as_ptr());
        vector.extend(self.positional.iter().map(|arg| arg.as_ptr()));
        vector.extend(pairs.iter().map(|(_, value)| value.as_ptr()));
        let names = if pairs.is_empty() {
            None
        } else {
            Some(super::values::tuple(pairs.iter().map(|(name, _)| Ref::to_owned(*name)).collect())?)
        };
        let names_ptr = names.as_ref().map_or(std::ptr::null_mut(), |names| names.as_ptr());
        // SAFETY: every pointer is a live object borrowed for this call (the arguments, `first`,
        // and the names tuple we own); nargs counts the positional ones, kwnames names the rest.
        unsafe {
            Owned::from_new(sys::PyObject_Vectorcall(
                callable.as_ptr(),
                vector.as_ptr(),
                1 + self.positional.len(),
                names_ptr,
            ))
        }
    }

    /// Binds the arguments to `signature`: one slot per parameter (`None` when not passed).
    /// Keyword arguments that match no parameter are refused unless the signature takes
    /// `**kwargs`, in which case they are returned as `(name, value)` pairs.
    pub(crate) fn bind<const N: usize>(&self, signature: &Signature<N>) -> PyResult<Bound<'a, N>> {
        let function = signature.function;
        let max_positional = signature.params.iter().filter(|p| p.kind != ParamKind::KeywordOnly).count();
        if self.positional.len() > max_positional {
            let plural = if max_positional == 1 { "" } else { "s" };
            return Err(type_error(&format!(
                "{function}() takes at most {max_positional} positional argument{plural} ({} given)",
                self.positional.len()
            )));
        }
        let mut bound: [Option<Ref<'a>>; N] = [None; N];
        for (slot, value) in bound.iter_mut().zip(self.positional) {
            *slot = Some(*value);
        }
        let mut extra = Vec::new();
        {
            for (name, value) in self.keywords.pairs() {
                let index = signature
                    .params
                    .iter()
                    .position(|p| p.kind != ParamKind::PositionalOnly && name.str_equals(p.name));
                match index {
                    Some(index) if bound[index].is_some() => {
                        return Err(type_error(&format!(
                            "{function}() got multiple values for argument '{}'",
                            signature.params[index].name.to_string_lossy()
                        )));
                    }
                    Some(index) => bound[index] = Some(value),
                    None if signature.var_keyword => extra.push((name, value)),
                    None => {
                        return Err(type_error(&format!(
                            "{function}() got an unexpected keyword argument '{}'",
                            name.to_string_lossy()
                        )));
                    }
                }
            }
        }
        for (index, param) in signature.params.iter().enumerate() {
            if param.required && bound[index].is_none() {
                return Err(type_error(&format!(
                    "{function}() missing required argument '{}' (pos {})",
                    param.name.to_string_lossy(),
                    index + 1
                )));
            }
        }
        Ok((bound, extra))
    }

    /// Binds a signature without `**kwargs`.
    pub(crate) fn parse<const N: usize>(&self, signature: &Signature<N>) -> PyResult<[Option<Ref<'a>>; N]> {
        if let Some(bound) = self.positional_only_fit(signature) {
            return Ok(bound);
        }
        self.bind(signature).map(|(bound, _)| bound)
    }

    /// The common call, bound with no name to match: positional arguments only, each for a
    /// parameter that may be passed by position, and every required parameter among them.
    /// `None` for anything else ([`Self::bind`] then binds it, or says what is wrong).
    fn positional_only_fit<const N: usize>(&self, signature: &Signature<N>) -> Option<[Option<Ref<'a>>; N]> {
        let given = self.positional.len();
        if !self.keywords.is_empty() || given > N {
            return None;
        }
        let (passed, rest) = signature.params.split_at(given);
        if passed.iter().any(|p| p.kind == ParamKind::KeywordOnly) || rest.iter().any(|p| p.required) {
            return None;
        }
        let mut bound: [Option<Ref<'a>>; N] = [None; N];
        for (slot, value) in bound.iter_mut().zip(self.positional) {
            *slot = Some(*value);
        }
        Some(bound)
    }

    /// Refuses any argument (for functions that take none but use the fastcall convention).
    pub(crate) fn none(&self, function: &str) -> PyResult<()> {
        if self.positional.is_empty() && self.keywords.is_empty() {
            return Ok(());
        }
        Err(type_error(&format!("{function}() takes no arguments")))
    }
}

fn type_error(message: &str) -> super::error::Raised {
    raise(builtin(Builtin::TypeError), message)
}

/// `__exit__(exc_type=None, exc_value=None, traceback=None, /)` of every context manager here.
pub(crate) static EXIT_SIGNATURE: Signature<3> = Signature {
    function: "__exit__",
    params: [
        Param { name: c"exc_type", kind: ParamKind::PositionalOnly, required: false },
        Param { name: c"exc_value", kind: ParamKind::PositionalOnly, required: false },
        Param { name: c"traceback", kind: ParamKind::PositionalOnly, required: false },
    ],
    var_keyword: false,
};
