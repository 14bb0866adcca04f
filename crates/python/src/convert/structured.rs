//! Structured data (lists, dicts, sets, frozensets, tuples, bytearrays, complex numbers, nested in
//! any combination with scalars and the package's handles) <-> the core's structured format: one
//! byte buffer and a list of attachments, written by one walk of the sender's objects and read
//! by one walk that builds the receiver's objects directly.
//!
//! Identity is kept as pickle keeps it: a tuple, list, dict, set or bytearray reached twice is
//! written once and referred to again (so it arrives as one object reached twice, cycles through
//! lists and dicts included). A tuple that contains itself (through a list or dict) is refused:
//! it is built only once its items are, so nothing inside may refer to it (pickle carries it).
//! Short strings and dict keys are written once per object and referred to after, so the
//! receiver builds each once (records with the same keys share their key objects, whose hashes
//! are then computed once).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use subinterpreters_core::structured::{Decoder, DepthExceeded, Encoder, Item, MemoId, StrId, Structured};
use subinterpreters_core::{Demand, Payload};

use super::ToPayloadError;
use crate::ffi::{
    bool_from, bytearray_from, bytes_from, complex_from, dict_set, float_from, gil_demand, give_way, int_from_hex,
    int_from_i64, new_dict, new_set, none, set_add, str_from_utf8, str_from_utf8_surrogatepass, Filling, GcPaused,
    ObjKind, Owned, PyResult, Ref, Unfinished,
};
use crate::state::State;

/// Strings up to this many bytes are written once per object and referred to after (dict keys
/// are, whatever their length): the common repeated values (names, tags, enum-like strings).
const KEPT_STR_MAX: usize = 32;

/// True for the kinds written with the structured format (containers and complex numbers).
pub(crate) fn is_structured(kind: ObjKind) -> bool {
    matches!(
        kind,
        ObjKind::Tuple
            | ObjKind::List
            | ObjKind::Dict
            | ObjKind::Set
            | ObjKind::FrozenSet
            | ObjKind::ByteArray
            | ObjKind::Complex
    )
}

/// Writes `obj` (and everything it holds) as structured data. Handles become attachments,
/// converted by `attach`; anything else not shareable refuses the whole value.
pub(crate) fn encode(
    state: &State,
    obj: Ref<'_>,
    attach: &dyn Fn(&State, Ref<'_>) -> Result<Payload, ToPayloadError>,
) -> Result<Structured, ToPayloadError> {
    encode_measured(state, obj, attach).map(|(structured, _)| structured)
}

/// As [`encode`], also returning how deep containers nest in `obj` (1 for a flat container).
pub(crate) fn encode_measured(
    state: &State,
    obj: Ref<'_>,
    attach: &dyn Fn(&State, Ref<'_>) -> Result<Payload, ToPayloadError>,
) -> Result<(Structured, usize), ToPayloadError> {
    let mut walk = Walk {
        state,
        attach,
        encoder: Encoder::new(),
        kept: PtrMap::default(),
        memo: PtrMap::default(),
        open_tuples: Vec::new(),
        deepest: 0,
    };
    walk.item(obj, false)?;
    if !walk.encoder.is_complete() {
        // Converting an attachment ran Python code that resized a container mid-walk.
        return Err(ToPayloadError::NotShareable("a container changed size while it was being sent".to_owned()));
    }
    let deepest = walk.deepest;
    Ok((walk.encoder.finish(), deepest))
}

/// Object addresses to ids: the objects stay alive for the whole walk (the value being sent
/// holds them, and no Python code runs), so an address names one object throughout.
type PtrMap<V> = HashMap<usize, V, BuildHasherDefault<AddressHasher>>;

/// A hasher for object addresses (aligned, already well spread): one multiply.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, address: usize) {
        self.0 = (address as u64 >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

struct Walk<'s> {
    state: &'s State,
    attach: &'s dyn Fn(&State, Ref<'_>) -> Result<Payload, ToPayloadError>,
    encoder: Encoder,
    kept: PtrMap<StrId>,
    memo: PtrMap<MemoId>,
    /// The addresses of the tuples being written that could be met again (not uniquely
    /// referenced), innermost last: meeting one again is a tuple containing itself.
    open_tuples: Vec<usize>,
    /// Deepest nesting of containers seen.
    deepest: usize,
}

impl Walk<'_> {
    fn item(&mut self, obj: Ref<'_>, is_key: bool) -> Result<(), ToPayloadError> {
        let kind = obj.kind();
        if is_structured(kind) && kind != ObjKind::ByteArray && kind != ObjKind::Complex {
            self.deepest = self.deepest.max(self.encoder.depth() + 1);
        }
        match kind {
            ObjKind::None => self.encoder.none(),
            ObjKind::Bool => self.encoder.bool(obj.bool_value()),
            ObjKind::Int => match obj.int_as_i64()? {
                Some(value) => self.encoder.int(value),
                None => self.encoder.big_int(&obj.int_to_hex()?),
            },
            ObjKind::Float => self.encoder.float(obj.float_value()?),
            ObjKind::Complex => {
                let (real, imag) = obj.complex_parts();
                self.encoder.complex(real, imag);
            }
            ObjKind::Str => self.str(obj, is_key)?,
            ObjKind::Bytes => self.encoder.bytes(obj.bytes_data()),
            ObjKind::ByteArray => {
                if self.seen(obj) {
                    return Ok(());
                }
                let id = self.encoder.bytearray(obj.bytearray_data());
                self.remember(obj, id);
            }
            ObjKind::Tuple => {
                let shared = !obj.is_uniquely_referenced();
                if shared && self.open_tuples.contains(&(obj.as_ptr() as usize)) {
                    return Err(ToPayloadError::NotShareable(
                        "a tuple that contains itself (through a list or dict) cannot cross natively; \
                         pickle carries it (a queue, or a channel made with strict=False)"
                            .to_owned(),
                    ));
                }
                if self.seen(obj) {
                    return Ok(());
                }
                let len = obj.tuple_len();
                let id = self.encoder.tuple(len).map_err(too_deep)?;
                self.remember(obj, id);
                if shared {
                    self.open_tuples.push(obj.as_ptr() as usize);
                }
                for index in 0..len {
                    self.item(obj.tuple_item(index), false)?;
                }
                if shared {
                    self.open_tuples.pop();
                }
                self.encoder.end();
            }
            ObjKind::List => {
                if self.seen(obj) {
                    return Ok(());
                }
                let len = obj.list_len();
                let id = self.encoder.list(len).map_err(too_deep)?;
                self.remember(obj, id);
                for index in 0..len {
                    self.item(obj.list_item(index), false)?;
                }
                self.encoder.end();
            }
            ObjKind::Dict => {
                if self.seen(obj) {
                    return Ok(());
                }
                let id = self.encoder.dict(obj.dict_len()).map_err(too_deep)?;
                self.remember(obj, id);
                for (key, value) in obj.dict_pairs() {
                    self.item(key, true)?;
                    self.item(value, false)?;
                }
                self.encoder.end();
            }
            kind @ (ObjKind::Set | ObjKind::FrozenSet) => {
                if self.seen(obj) {
                    return Ok(());
                }
                let len = obj.set_len();
                let id = if kind == ObjKind::Set { self.encoder.set(len) } else { self.encoder.frozenset(len) };
                self.remember(obj, id.map_err(too_deep)?);
                let items = obj.set_items()?;
                while let Some(item) = items.as_ref().next_item()? {
                    self.item(item.as_ref(), true)?;
                }
                self.encoder.end();
            }
            ObjKind::Other => {
                let payload = (self.attach)(self.state, obj)?;
                self.encoder.attach(payload);
            }
        }
        Ok(())
    }

    /// Notes container `obj` as written (`id`), for a second path to it. An object nothing else
    /// refers to cannot be met again: most containers of real data (a record in a list), which
    /// then cost no lookup at all. (Its one referrer is its container, met once itself: every
    /// container that could be met twice, tuples too, is noted.)
    fn remember(&mut self, obj: Ref<'_>, id: MemoId) {
        if !obj.is_uniquely_referenced() {
            self.memo.insert(obj.as_ptr() as usize, id);
        }
    }

    /// Writes a reference if `obj` (a tuple, list, dict, set or bytearray) was written already.
    fn seen(&mut self, obj: Ref<'_>) -> bool {
        if obj.is_uniquely_referenced() || self.memo.is_empty() {
            return false;
        }
        match self.memo.get(&(obj.as_ptr() as usize)) {
            Some(&id) => {
                self.encoder.memo_ref(id);
                true
            }
            None => false,
        }
    }

    fn str(&mut self, obj: Ref<'_>, is_key: bool) -> Result<(), ToPayloadError> {
        // A string referred to only here cannot be met again in the value: no lookup.
        let shared = !obj.is_uniquely_referenced();
        let address = obj.as_ptr() as usize;
        if shared {
            if let Some(&id) = self.kept.get(&address) {
                self.encoder.str_ref(id);
                return Ok(());
            }
        }
        match obj.str_utf8_strict() {
            Some(utf8) if shared && (is_key || utf8.len() <= KEPT_STR_MAX) => {
                let id = self.encoder.str_kept(utf8);
                self.kept.insert(address, id);
            }
            Some(utf8) => self.encoder.str(utf8),
            None => self.encoder.str_surrogates(&obj.str_utf8_surrogatepass()?),
        }
        Ok(())
    }
}

fn too_deep(error: DepthExceeded) -> ToPayloadError {
    ToPayloadError::NotShareable(format!(
        "nested more than {} levels deep (containers within containers) is not shareable",
        error.limit
    ))
}

/// Builds the objects `structured` describes, in the current interpreter (attachments through
/// `attached`, which builds a handle from its payload).
///
/// A large build lets the threads of ours that wait for this interpreter's GIL have it now and
/// then (see [`crate::ffi::give_way`]): a pool's worker thread that finished its task must not
/// wait until the main thread has built another task's result. (Other waiters wait for the end,
/// as for any native call: CPython's hand-over needs a request only its own loop sees.) No
/// half-filled list or tuple is reachable meanwhile: those being filled are hidden from the
/// garbage collector. (Dicts and sets being filled, and finished parts, are reachable through
/// `gc.get_objects()`, as a value being unpickled is.) A value with a reference back to a
/// container (`MemoRef`), which could lead from a finished object to one being filled, and a
/// frozenset being filled (which must stay unreferenced) do not give way; a give-way that no
/// waiter took makes the build look four times less often.
pub(crate) fn decode(structured: &Structured, attached: &dyn Fn(&Payload) -> PyResult<Owned>) -> PyResult<Owned> {
    let mut build = Build {
        decoder: structured.decoder(),
        attached,
        kept: Vec::new(),
        memo: Vec::new(),
        gc: GcPaused::new(),
        demand: gil_demand(),
        unfinished: Unfinished::new(),
        countdown: GIVE_WAY_EVERY,
        give_way_every: GIVE_WAY_EVERY,
        may_give_way: true,
        frozensets_filling: 0,
    };
    build.next()
}

/// Items built between two looks at whether other threads wait for the GIL (about 0.1 ms).
const GIVE_WAY_EVERY: u32 = 4096;

struct Build<'a> {
    decoder: Decoder<'a>,
    attached: &'a dyn Fn(&Payload) -> PyResult<Owned>,
    /// Strings built so far that later items may refer to, by StrId.
    kept: Vec<Owned>,
    /// Containers built (or being built) so far, by MemoId.
    memo: Vec<Owned>,
    /// The collector is paused while building (giving way too).
    gc: GcPaused,
    /// Threads waiting for this interpreter's GIL.
    demand: &'static Demand,
    /// The lists and tuples being filled.
    unfinished: Unfinished,
    /// Items left until the next look at `demand`.
    countdown: u32,
    /// Items between two looks: `GIVE_WAY_EVERY`, more after a give-way no one took.
    give_way_every: u32,
    /// False once a container was referred to again (see [`decode`]).
    may_give_way: bool,
    /// Frozensets being filled (nothing may refer to one, so no give-way meanwhile).
    frozensets_filling: u32,
}

impl Build<'_> {
    fn next(&mut self) -> PyResult<Owned> {
        self.countdown -= 1;
        if self.countdown == 0 {
            self.countdown = self.give_way_every;
            if self.may_give_way && self.frozensets_filling == 0 && self.demand.waiting() > 0 {
                let demand = self.demand;
                // SAFETY: only this build reaches the sequences being filled: a parent holds a
                // child only once it is finished, and with no MemoRef met (`may_give_way`)
                // nothing refers back to one; `memo` and `unfinished` are ours.
                let taken = unsafe { self.gc.let_others_run(&self.unfinished, || give_way(demand)) };
                // No taker (a slow wake-up, a stuck count): look less often from now on.
                self.give_way_every = if taken { GIVE_WAY_EVERY } else { self.give_way_every.saturating_mul(4) };
            }
        }
        let item = self.decoder.next().map_err(|error| {
            crate::ffi::raise(
                crate::ffi::builtin(crate::ffi::Builtin::SystemError),
                &format!("malformed structured data: {error}"),
            )
        })?;
        Ok(match item {
            Item::None => none(),
            Item::Bool(value) => bool_from(value),
            Item::Int(value) => int_from_i64(value)?,
            Item::BigInt(hex) => int_from_hex(hex)?,
            Item::Float(value) => float_from(value)?,
            Item::Complex(real, imag) => complex_from(real, imag)?,
            Item::Str(utf8) => str_from_utf8(utf8)?,
            Item::StrSurrogates(bytes) => str_from_utf8_surrogatepass(bytes)?,
            Item::StrKept(utf8, id) => {
                let text = str_from_utf8(utf8)?;
                self.remember_str(id, &text);
                text
            }
            Item::StrRef(id) => self.kept_str(id)?,
            Item::Bytes(data) => bytes_from(data)?,
            Item::ByteArray(data, id) => {
                let bytearray = bytearray_from(data)?;
                self.remember(id, bytearray.clone());
                bytearray
            }
            Item::Tuple(len, id) => {
                // Nothing inside refers to it (the decoder refuses that), so it is only met
                // again once complete.
                let tuple = Filling::tuple(len)?;
                self.remember(id, tuple.as_ref().to_owned());
                self.fill(tuple, len)?
            }
            Item::List(len, id) => {
                let list = Filling::list(len)?;
                self.remember(id, list.as_ref().to_owned());
                self.fill(list, len)?
            }
            Item::Dict(len, id) => {
                let dict = new_dict()?;
                self.remember(id, dict.clone());
                for _ in 0..len {
                    let key = self.next()?;
                    let value = self.next()?;
                    dict_set(dict.as_ref(), key.as_ref(), value.as_ref())?;
                }
                dict
            }
            Item::Set(len, id) => {
                let set = new_set(false)?;
                self.remember(id, set.clone());
                for _ in 0..len {
                    set_add(set.as_ref(), self.next()?.as_ref())?;
                }
                set
            }
            Item::FrozenSet(len, id) => {
                // A frozenset may only be filled while nothing else refers to it: its slot is
                // reserved now (nothing inside can refer to it: the format refuses that) and
                // filled once it is complete.
                self.remember(id, none());
                let set = new_set(true)?;
                self.frozensets_filling += 1;
                for _ in 0..len {
                    set_add(set.as_ref(), self.next()?.as_ref())?;
                }
                self.frozensets_filling -= 1;
                self.memo[id.index()] = set.clone();
                set
            }
            Item::MemoRef(id) => match self.memo.get(id.index()) {
                Some(container) => {
                    self.may_give_way = false;
                    container.clone()
                }
                None => return Err(malformed("a reference to a container not built yet")),
            },
            Item::Attachment(payload) => (self.attached)(payload)?,
        })
    }

    /// Fills `seq` (a new list or tuple) with the next `len` items; listed as unfinished meanwhile.
    fn fill(&mut self, mut seq: Filling, len: usize) -> PyResult<Owned> {
        // SAFETY: `seq` is finished (or dropped) only after the pop below.
        unsafe { self.unfinished.push(&seq) };
        let filled = (0..len).try_for_each(|_| {
            let item = self.next()?;
            seq.push(item)
        });
        self.unfinished.pop();
        filled?;
        seq.finish()
    }

    fn remember(&mut self, id: MemoId, container: Owned) {
        debug_assert_eq!(id.index(), self.memo.len(), "containers are numbered in order");
        self.memo.push(container);
    }

    fn remember_str(&mut self, id: StrId, text: &Owned) {
        debug_assert_eq!(id.index(), self.kept.len(), "kept strings are numbered in order");
        self.kept.push(text.clone());
    }

    fn kept_str(&self, id: StrId) -> PyResult<Owned> {
        self.kept.get(id.index()).cloned().ok_or_else(|| malformed("a reference to a string not built yet"))
    }
}

fn malformed(what: &str) -> crate::ffi::Raised {
    crate::ffi::raise(
        crate::ffi::builtin(crate::ffi::Builtin::SystemError),
        &format!("malformed structured data: {what}"),
    )
}
