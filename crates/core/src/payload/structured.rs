//! Structured data (lists, dicts, sets, tuples and scalars, nested, with identity and cycles) as
//! one flat byte buffer plus a list of attached payloads: written in one walk over the sender's
//! objects, read as a flat sequence of [`Item`]s from which the receiver builds its objects directly.
//!
//! # Format
//!
//! A buffer holds exactly one value: a sequence of items in depth-first order, each a tag byte
//! and its operands. A container announces its length and its items follow (a dict's items are
//! its keys and values, alternating); nothing marks its end. Operands:
//!
//! | tag           | item                   | operands                                         |
//! |---------------|------------------------|--------------------------------------------------|
//! | `0x00`        | `None`                 |                                                  |
//! | `0x01`/`0x02` | `False` / `True`       |                                                  |
//! | `0x03`        | int (64 bits)          | zigzag varint (only outside the small-int range) |
//! | `0x04`        | big int                | varint length, hex literal (`-0x1f`) in UTF-8    |
//! | `0x05`        | float                  | 8 bytes, little-endian IEEE 754 bits             |
//! | `0x06`        | complex                | real, imaginary: 8 bytes each as a float         |
//! | `0x07`        | str                    | varint length, UTF-8                             |
//! | `0x08`        | str with lone surrogates | varint length, UTF-8 with `surrogatepass`      |
//! | `0x09`        | kept str (next StrId)  | varint length, UTF-8                             |
//! | `0x0a`        | kept str again         | varint StrId                                     |
//! | `0x0b`        | bytes                  | varint length, the bytes                         |
//! | `0x0c`        | bytearray (next MemoId) | varint length, the bytes                        |
//! | `0x0d`..`0x11`| tuple, list, dict, set, frozenset (next MemoId) | varint length (a dict's: its pairs) |
//! | `0x12`        | a memoized item again  | varint MemoId                                    |
//! | `0x13`        | attachment             | none: the next attachment, in order              |
//! | `0x80`..`0xff`| small int              | none: the tag minus `0xa0` (-32..=95)            |
//!
//! Varints are unsigned LEB128 in their shortest form; signed ints are zigzag-mapped first.
//! [`StrId`]s and [`MemoId`]s are numbered from 0 in the order their items appear. Every form is
//! canonical: one value has exactly one encoding, which the decoder checks (and the fuzzer relies
//! on: whatever decodes re-encodes to the same bytes).
//!
//! # Trust
//!
//! Both ends are this build of the package, so a malformed buffer can only come from a bug; still
//! the decoder checks everything a receiver could trip over and never panics: lengths fit in the
//! remaining bytes (so nothing huge gets allocated), ids refer to items already seen, nesting stays
//! within [`Payload::MAX_DEPTH`], no item follows the value. What it does not check: that `str`
//! bytes are valid UTF-8 (the receiver's decoding does), that dict keys and set items are hashable.
//!
//! # Writing (the sender's walk)
//!
//! - Every container call (tuples too) is followed by exactly `len` items (a dict's: `2 * len`,
//!   key then value), then [`Encoder::end`]. If a Python container changes size during the walk
//!   (pickling an attachment runs Python code), [`Encoder::is_complete`] turns false: check it
//!   before [`Encoder::finish`] and drop the encoder rather than send the value.
//! - A container call that would nest deeper than [`Payload::MAX_DEPTH`] returns
//!   [`DepthExceeded`] and writes nothing: the value is not shareable; drop the encoder.
//! - Tuples, lists, dicts, sets, frozensets and bytearrays get a [`MemoId`] at their call, before
//!   their items: map the object's address to it at once (the sender keeps the objects alive), so
//!   a second visit (or one from inside a list or dict: a cycle) becomes [`Encoder::memo_ref`].
//!   A tuple, set or frozenset is never referred to from inside itself (the decoder refuses it):
//!   a tuple that contains itself through a list or dict is not shareable (pickle carries it).
//! - Kept strings are optional deduplication, e.g. of dict keys by object address or of short
//!   strings by content: [`Encoder::str_kept`] once, [`Encoder::str_ref`] after. Only strict UTF-8
//!   may be kept; a string with lone surrogates goes as [`Encoder::str_surrogates`] each time.
//!
//! # Reading (the receiver's walk)
//!
//! - A container's item says how many items follow for it; read them recursively (at most
//!   [`Payload::MAX_DEPTH`] levels) and it is done: no end item. After the value's last item,
//!   [`Decoder::is_complete`] is true.
//! - Each `Tuple`/`List`/`Dict`/`Set`/`FrozenSet`/`ByteArray` item carries the next [`MemoId`]
//!   (0, 1, 2... in item order): push the object onto a list of built objects when its item
//!   arrives, before its items are read, and look up `MemoRef(id)` there by [`MemoId::index`]
//!   (always in range). A list or dict may be referred to while its items are still being read
//!   (a cycle): create it empty first. A tuple, set or frozenset never is, so a frozenset can be
//!   made from its built items and put into its slot afterwards.
//! - `StrKept(text, id)`: `id` is the number of kept strings before it: push the built `str`;
//!   `StrRef(id)` is that object again.
//! - `Attachment(payload)`: the next of [`Structured::attachments`], in order; build it as any
//!   payload (a handle may need the receiving interpreter's module state).
//! - Lengths never exceed the bytes left, so preallocating a container of `len` items is safe.

use std::fmt;

use crate::payload::Payload;

// ---- tags ---------------------------------------------------------------------------------------

const NONE: u8 = 0x00;
const FALSE: u8 = 0x01;
const TRUE: u8 = 0x02;
const INT: u8 = 0x03;
const BIG_INT: u8 = 0x04;
const FLOAT: u8 = 0x05;
const COMPLEX: u8 = 0x06;
const STR: u8 = 0x07;
const STR_SURROGATES: u8 = 0x08;
const STR_KEPT: u8 = 0x09;
const STR_REF: u8 = 0x0a;
const BYTES: u8 = 0x0b;
const BYTEARRAY: u8 = 0x0c;
const TUPLE: u8 = 0x0d;
const LIST: u8 = 0x0e;
const DICT: u8 = 0x0f;
const SET: u8 = 0x10;
const FROZENSET: u8 = 0x11;
const MEMO_REF: u8 = 0x12;
const ATTACHMENT: u8 = 0x13;
/// Tags from here up are small ints: `tag - SMALL_INT_ZERO`.
const SMALL_INT_MIN_TAG: u8 = 0x80;
/// The tag of the small int 0.
const SMALL_INT_ZERO: u8 = 0xa0;
/// The small ints: the ints that are their own tag.
const SMALL_INTS: std::ops::RangeInclusive<i64> =
    (SMALL_INT_MIN_TAG as i64 - SMALL_INT_ZERO as i64)..=(0xff - SMALL_INT_ZERO as i64);

// ---- ids and errors -----------------------------------------------------------------------------

/// A kept string: the `n`th [`Encoder::str_kept`] of a value (from 0), handed back by the decoder
/// with [`Item::StrKept`], so the receiver builds it once and reuses it for every [`Item::StrRef`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StrId(u32);

impl StrId {
    /// The number of kept strings before this one: an index into the receiver's list of them.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A tuple, list, dict, set, frozenset or bytearray: the `n`th of a value (from 0), so
/// [`Item::MemoRef`] can refer to the same object again (shared references and cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemoId(u32);

impl MemoId {
    /// The number of memoized containers before this one: an index into the receiver's list.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A container would nest deeper than `limit` ([`Payload::MAX_DEPTH`]) containers: the value is
/// refused before anything is sent. Nothing was written for the refused container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthExceeded {
    /// The deepest nesting allowed.
    pub limit: usize,
}

impl fmt::Display for DepthExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "containers nested more than {} levels deep", self.limit)
    }
}

impl std::error::Error for DepthExceeded {}

/// A buffer the decoder cannot read: only a bug makes one (or the fuzzer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatError {
    offset: usize,
    reason: &'static str,
}

impl FormatError {
    /// Where in the buffer the offending item starts.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What is wrong there.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed structured value at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for FormatError {}

// ---- the value ----------------------------------------------------------------------------------

/// One structured value, encoded: its bytes and the payloads attached to it (handles and other
/// values the format does not describe), in the order their items appear.
pub struct Structured {
    /// The items.
    bytes: Box<[u8]>,
    /// What the [`Item::Attachment`]s refer to, in order.
    attachments: Box<[Payload]>,
}

// The binding moves values between threads and interpreters; `Payload` is `Send + Sync`.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Structured>();
};

impl Structured {
    /// A value from raw parts, as the [`Encoder`] makes them. For tests and fuzzing: the decoder
    /// checks whatever these are.
    pub fn from_parts(bytes: Box<[u8]>, attachments: Box<[Payload]>) -> Self {
        Structured { bytes, attachments }
    }

    /// Reads the items, from the first.
    #[inline]
    pub fn decoder(&self) -> Decoder<'_> {
        Decoder {
            bytes: &self.bytes,
            pos: 0,
            attachments: &self.attachments,
            next_attachment: 0,
            strs: 0,
            memos: 0,
            remaining: 1,
            set: NOT_A_SET,
            outer: Vec::new(),
            complete: false,
            failed: None,
        }
    }

    /// The attached payloads, in the order of their items.
    #[inline]
    pub fn attachments(&self) -> &[Payload] {
        &self.attachments
    }

    /// The encoded items.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The size of the encoded items in bytes.
    #[inline]
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }
}

impl PartialEq for Structured {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes && self.attachments == other.attachments
    }
}

impl fmt::Debug for Structured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Structured")
            .field("byte_len", &self.bytes.len())
            .field("attachments", &self.attachments)
            .finish()
    }
}

// ---- encoding -----------------------------------------------------------------------------------

/// Writes one value, item by item, in depth-first order: a container's call announces its length,
/// then exactly that many items follow (a dict's: key, value, key, value...), then [`end`](Self::end).
pub struct Encoder {
    /// The items so far, in `buf[..pos]`; the rest is zeroed room to write into without a
    /// capacity check per byte.
    buf: Vec<u8>,
    /// The end of what was written.
    pos: usize,
    /// The attachments so far.
    attachments: Vec<Payload>,
    /// Kept strings so far: the next [`StrId`].
    strs: u32,
    /// Memoized containers so far: the next [`MemoId`].
    memos: u32,
    /// Items still due in the innermost open container (at the top level: the one value).
    due: usize,
    /// Items still due in each enclosing container, outermost first: its length is the depth.
    outer: Vec<usize>,
    /// A container got more or fewer items than it announced, more than one value was written,
    /// or `end` closed nothing.
    miscounted: bool,
}

/// Room made before writing an item's tag and operands (tag + two 8-byte floats, or tag + varint).
const ITEM_ROOM: usize = 17;

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An empty encoder.
    #[inline]
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty encoder with room for `bytes` bytes of items.
    #[inline]
    pub fn with_capacity(bytes: usize) -> Self {
        Encoder {
            buf: vec![0; bytes],
            pos: 0,
            attachments: Vec::new(),
            strs: 0,
            memos: 0,
            due: 1,
            outer: Vec::new(),
            miscounted: false,
        }
    }

    /// Counts one item in the innermost open container.
    #[inline(always)]
    fn counted(&mut self) {
        if self.due == 0 {
            self.miscounted = true;
        } else {
            self.due -= 1;
        }
    }

    /// `n` bytes of room at the end of what was written.
    #[inline(always)]
    fn room(&mut self, n: usize) -> &mut [u8] {
        if self.buf.len() - self.pos < n {
            self.grow(n);
        }
        &mut self.buf[self.pos..self.pos + n]
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        let want = (self.pos + n).max(self.buf.len() * 2).max(256);
        // A fresh zeroed allocation (calloc: large ones come zeroed from the system) and a copy,
        // rather than `resize`, which zeroes byte by byte.
        let mut buf = vec![0; want];
        buf[..self.pos].copy_from_slice(&self.buf[..self.pos]);
        self.buf = buf;
    }

    #[inline(always)]
    fn tag(&mut self, tag: u8) {
        self.counted();
        self.room(1)[0] = tag;
        self.pos += 1;
    }

    #[inline(always)]
    fn tag_varint(&mut self, tag: u8, value: u64) {
        self.counted();
        let room = self.room(ITEM_ROOM);
        room[0] = tag;
        let len = 1 + write_varint(&mut room[1..], value);
        self.pos += len;
    }

    #[inline(always)]
    fn tag_data(&mut self, tag: u8, data: &[u8]) {
        self.tag_varint(tag, data.len() as u64);
        self.room(data.len()).copy_from_slice(data);
        self.pos += data.len();
    }

    #[inline(always)]
    fn open(&mut self, tag: u8, len: usize, items: usize) -> Result<(), DepthExceeded> {
        if self.outer.len() >= Payload::MAX_DEPTH {
            return Err(DepthExceeded { limit: Payload::MAX_DEPTH });
        }
        self.tag_varint(tag, len as u64);
        self.outer.push(self.due);
        self.due = items;
        Ok(())
    }

    #[inline(always)]
    fn open_memoized(&mut self, tag: u8, len: usize, items: usize) -> Result<MemoId, DepthExceeded> {
        self.open(tag, len, items)?;
        let id = MemoId(self.memos);
        self.memos += 1;
        Ok(id)
    }

    /// `None`.
    #[inline]
    pub fn none(&mut self) {
        self.tag(NONE);
    }

    /// A `bool`.
    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.tag(if v { TRUE } else { FALSE });
    }

    /// An `int` that fits in 64 bits.
    #[inline(always)]
    pub fn int(&mut self, v: i64) {
        if SMALL_INTS.contains(&v) {
            self.tag((v + SMALL_INT_ZERO as i64) as u8);
        } else {
            self.tag_varint(INT, zigzag(v));
        }
    }

    /// Any other `int`, as a signed hexadecimal literal like [`Payload::BigInt`]'s (`-0x1f`).
    #[inline]
    pub fn big_int(&mut self, hex_literal: &str) {
        self.tag_data(BIG_INT, hex_literal.as_bytes());
    }

    /// A `float`, bit for bit.
    #[inline]
    pub fn float(&mut self, v: f64) {
        self.counted();
        let room = self.room(9);
        room[0] = FLOAT;
        room[1..].copy_from_slice(&v.to_le_bytes());
        self.pos += 9;
    }

    /// A `complex`, both parts bit for bit.
    #[inline]
    pub fn complex(&mut self, re: f64, im: f64) {
        self.counted();
        let room = self.room(17);
        room[0] = COMPLEX;
        room[1..9].copy_from_slice(&re.to_le_bytes());
        room[9..].copy_from_slice(&im.to_le_bytes());
        self.pos += 17;
    }

    /// A `str` as valid UTF-8 (the receiver decodes it strictly).
    #[inline]
    pub fn str(&mut self, utf8: &[u8]) {
        self.tag_data(STR, utf8);
    }

    /// A `str` with lone surrogates, as UTF-8 with `surrogatepass`.
    #[inline]
    pub fn str_surrogates(&mut self, surrogatepass_utf8: &[u8]) {
        self.tag_data(STR_SURROGATES, surrogatepass_utf8);
    }

    /// A `str` as valid UTF-8, remembered: [`str_ref`](Self::str_ref) with the id returned stands
    /// for the same object later in this value (dict keys, repeated short strings). (Ids are
    /// `u32`: a value cannot hold 2^32 kept strings or containers; it would take 8 GiB or more.)
    #[inline]
    pub fn str_kept(&mut self, utf8: &[u8]) -> StrId {
        self.tag_data(STR_KEPT, utf8);
        let id = StrId(self.strs);
        self.strs += 1;
        id
    }

    /// The kept string `id` again.
    #[inline]
    pub fn str_ref(&mut self, id: StrId) {
        debug_assert!(id.0 < self.strs, "str_ref({id:?}) before its str_kept");
        self.tag_varint(STR_REF, id.0 as u64);
    }

    /// A `bytes`.
    #[inline]
    pub fn bytes(&mut self, v: &[u8]) {
        self.tag_data(BYTES, v);
    }

    /// A `bytearray` (memoized: a bytearray reached twice arrives as one object).
    #[inline]
    pub fn bytearray(&mut self, v: &[u8]) -> MemoId {
        self.tag_data(BYTEARRAY, v);
        let id = MemoId(self.memos);
        self.memos += 1;
        id
    }

    /// A `tuple` of `len` items, which follow; then [`end`](Self::end). Never referred to from
    /// inside itself (see [`memo_ref`](Self::memo_ref)).
    #[inline]
    pub fn tuple(&mut self, len: usize) -> Result<MemoId, DepthExceeded> {
        self.open_memoized(TUPLE, len, len)
    }

    /// A `list` of `len` items, which follow; then [`end`](Self::end).
    #[inline]
    pub fn list(&mut self, len: usize) -> Result<MemoId, DepthExceeded> {
        self.open_memoized(LIST, len, len)
    }

    /// A `dict` of `len` pairs, which follow as key, value, key, value...; then [`end`](Self::end).
    #[inline]
    pub fn dict(&mut self, len: usize) -> Result<MemoId, DepthExceeded> {
        self.open_memoized(DICT, len, len.saturating_mul(2))
    }

    /// A `set` of `len` items, which follow; then [`end`](Self::end).
    #[inline]
    pub fn set(&mut self, len: usize) -> Result<MemoId, DepthExceeded> {
        self.open_memoized(SET, len, len)
    }

    /// A `frozenset` of `len` items, which follow; then [`end`](Self::end).
    #[inline]
    pub fn frozenset(&mut self, len: usize) -> Result<MemoId, DepthExceeded> {
        self.open_memoized(FROZENSET, len, len)
    }

    /// Closes the innermost open container (writes nothing).
    #[inline]
    pub fn end(&mut self) {
        if self.due != 0 {
            self.miscounted = true;
        }
        match self.outer.pop() {
            Some(due) => self.due = due,
            None => self.miscounted = true,
        }
    }

    /// The tuple, list, dict, set, frozenset or bytearray `id` again: the receiver's object is the
    /// same one. (A tuple, set or frozenset is never referred to from inside itself: the decoder
    /// refuses that.)
    #[inline]
    pub fn memo_ref(&mut self, id: MemoId) {
        debug_assert!(id.0 < self.memos, "memo_ref({id:?}) before its container");
        self.tag_varint(MEMO_REF, id.0 as u64);
    }

    /// A payload carried beside the bytes (a handle, a pickle...): [`Item::Attachment`].
    #[inline]
    pub fn attach(&mut self, payload: Payload) {
        self.tag(ATTACHMENT);
        self.attachments.push(payload);
    }

    /// The bytes written so far.
    #[inline]
    pub fn byte_len(&self) -> usize {
        self.pos
    }

    /// The depth: how many containers are open.
    #[inline]
    pub fn depth(&self) -> usize {
        self.outer.len()
    }

    /// True if what was written is exactly one complete value: every container got the items it
    /// announced and was ended. (If a Python container changed size during the walk, this is
    /// false: drop the encoder rather than send a value the decoder would misread.)
    #[inline]
    pub fn is_complete(&self) -> bool {
        !self.miscounted && self.outer.is_empty() && self.due == 0
    }

    /// The value. Debug builds check [`is_complete`](Self::is_complete).
    #[inline]
    pub fn finish(mut self) -> Structured {
        debug_assert!(self.is_complete(), "Encoder::finish on an incomplete or miscounted value");
        self.buf.truncate(self.pos);
        Structured { bytes: self.buf.into_boxed_slice(), attachments: self.attachments.into_boxed_slice() }
    }
}

/// Writes `value` as LEB128 into `buf` (at least 10 bytes); returns the length.
#[inline(always)]
fn write_varint(buf: &mut [u8], mut value: u64) -> usize {
    let mut i = 0;
    while value >= 0x80 {
        buf[i] = value as u8 | 0x80;
        value >>= 7;
        i += 1;
    }
    buf[i] = value as u8;
    i + 1
}

#[inline(always)]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline(always)]
fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

// ---- decoding -----------------------------------------------------------------------------------

/// One item of a value, in the order written. A container's item comes first with its length;
/// its items follow (a dict's as key, value, key, value...).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'a> {
    /// `None`.
    None,
    /// A `bool`.
    Bool(bool),
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// Any other `int`, as a signed hex literal (`-0x1f`).
    BigInt(&'a str),
    /// A `float`.
    Float(f64),
    /// A `complex`: real, imaginary.
    Complex(f64, f64),
    /// A `str`: UTF-8 (not checked by the decoder).
    Str(&'a [u8]),
    /// A `str` with lone surrogates: UTF-8 with `surrogatepass`.
    StrSurrogates(&'a [u8]),
    /// A `str` (UTF-8, not checked) that [`Item::StrRef`]s may refer to later; the ids count up from 0.
    StrKept(&'a [u8], StrId),
    /// The kept string `id` again (always one already seen).
    StrRef(StrId),
    /// A `bytes`.
    Bytes(&'a [u8]),
    /// A `bytearray`.
    ByteArray(&'a [u8], MemoId),
    /// A `tuple` of this many items, which follow.
    Tuple(usize, MemoId),
    /// A `list` of this many items, which follow.
    List(usize, MemoId),
    /// A `dict` of this many pairs, which follow as key, value, key, value...
    Dict(usize, MemoId),
    /// A `set` of this many items, which follow.
    Set(usize, MemoId),
    /// A `frozenset` of this many items, which follow.
    FrozenSet(usize, MemoId),
    /// A container or bytearray already announced (always one already seen: a list or dict may
    /// still be open, which is a cycle; a tuple, set or frozenset never is).
    MemoRef(MemoId),
    /// The next attached payload.
    Attachment(&'a Payload),
}

/// A container the decoder is inside, saved while it reads a container inside it.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Items still to come after the inner container.
    remaining: usize,
    /// The MemoId of a tuple, set or frozenset, which nothing inside it may refer to; else
    /// `NOT_A_SET`.
    set: u32,
}

const NOT_A_SET: u32 = u32::MAX;

/// Reads a [`Structured`] value's items in order; see [`Decoder::next`].
#[derive(Debug)]
pub struct Decoder<'a> {
    bytes: &'a [u8],
    /// The next byte to read.
    pos: usize,
    attachments: &'a [Payload],
    /// Attachment items read so far.
    next_attachment: usize,
    /// Kept strings read so far.
    strs: u32,
    /// Memoized containers read so far.
    memos: u32,
    /// Items still to come in the innermost open container (at the top level: the one value);
    /// 0 once the value is complete or an error was found.
    remaining: usize,
    /// The MemoId of the innermost open container if it is a tuple, set or frozenset, else
    /// `NOT_A_SET`.
    set: u32,
    /// The enclosing containers, outermost first: its length is the depth.
    outer: Vec<Open>,
    /// The value's last item has been read.
    complete: bool,
    /// The first error; every later call returns it.
    failed: Option<FormatError>,
}

impl<'a> Decoder<'a> {
    /// The next item. After an error, every call returns the same error; after the value's last
    /// item, a call is an error ("the value is complete").
    // Inlined into the receiver's loop: it then works in registers and returns no `Result` through
    // memory (a third fewer instructions per item). Not in debug builds, where inlining only
    // grows the receiver's recursive frames (200 levels of them must fit a thread's stack).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    #[allow(clippy::should_implement_trait)] // fallible, so not an `Iterator`
    pub fn next(&mut self) -> Result<Item<'a>, FormatError> {
        if self.remaining == 0 {
            return Err(self.failed.unwrap_or(FormatError { offset: self.pos, reason: "the value is complete" }));
        }
        let start = self.pos;
        self.read_item().map_err(|reason| {
            let error = FormatError { offset: start, reason };
            self.failed = Some(error);
            self.remaining = 0;
            error
        })
    }

    /// True once the value's last item has been read.
    #[inline]
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The bytes read so far.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Checks that the value was read to its end and nothing follows it: every byte and every
    /// attachment used. (The binding may skip this: `next` already refuses anything malformed
    /// that it reads.)
    pub fn finish(self) -> Result<(), FormatError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let fail = |reason| Err(FormatError { offset: self.pos, reason });
        if !self.complete {
            fail("the value is not complete")
        } else if self.pos != self.bytes.len() {
            fail("bytes after the value")
        } else if self.next_attachment != self.attachments.len() {
            fail("attachments not referred to")
        } else {
            Ok(())
        }
    }

    #[inline(always)]
    fn read_item(&mut self) -> Result<Item<'a>, &'static str> {
        self.remaining -= 1; // `next` checked it is not 0
        let tag = self.byte()?;
        let item = match tag {
            SMALL_INT_MIN_TAG..=0xff => Item::Int(tag as i64 - SMALL_INT_ZERO as i64),
            NONE => Item::None,
            FALSE => Item::Bool(false),
            TRUE => Item::Bool(true),
            INT => {
                let v = unzigzag(self.varint()?);
                if SMALL_INTS.contains(&v) {
                    return Err("a small int not in its short form");
                }
                Item::Int(v)
            }
            BIG_INT => {
                let len = self.len(1)?;
                let text = std::str::from_utf8(self.take(len)?).map_err(|_| "big int literal not UTF-8")?;
                Item::BigInt(text)
            }
            FLOAT => Item::Float(self.f64()?),
            COMPLEX => Item::Complex(self.f64()?, self.f64()?),
            STR => Item::Str(self.data()?),
            STR_SURROGATES => Item::StrSurrogates(self.data()?),
            STR_KEPT => {
                let data = self.data()?;
                Item::StrKept(data, StrId(next_id(&mut self.strs)?))
            }
            STR_REF => {
                let id = self.varint()?;
                if id >= self.strs as u64 {
                    return Err("a reference to a string not kept yet");
                }
                Item::StrRef(StrId(id as u32))
            }
            BYTES => Item::Bytes(self.data()?),
            BYTEARRAY => {
                let data = self.data()?;
                Item::ByteArray(data, MemoId(next_id(&mut self.memos)?))
            }
            TUPLE | LIST | SET | FROZENSET => {
                let len = self.len(1)?;
                let id = next_id(&mut self.memos)?;
                self.enter(len, if tag == LIST { NOT_A_SET } else { id })?;
                let id = MemoId(id);
                match tag {
                    TUPLE => Item::Tuple(len, id),
                    LIST => Item::List(len, id),
                    SET => Item::Set(len, id),
                    _ => Item::FrozenSet(len, id),
                }
            }
            DICT => {
                let len = self.len(2)?;
                let id = next_id(&mut self.memos)?;
                self.enter(len * 2, NOT_A_SET)?;
                Item::Dict(len, MemoId(id))
            }
            MEMO_REF => {
                let id = self.varint()?;
                if id >= self.memos as u64 {
                    return Err("a reference to a container not seen yet");
                }
                let id = id as u32;
                if self.set == id || self.outer.iter().any(|open| open.set == id) {
                    return Err("a reference to a tuple or set from inside it");
                }
                Item::MemoRef(MemoId(id))
            }
            ATTACHMENT => {
                let payload =
                    self.attachments.get(self.next_attachment).ok_or("more attachment items than attachments")?;
                self.next_attachment += 1;
                Item::Attachment(payload)
            }
            _ => return Err("unknown tag"),
        };
        while self.remaining == 0 {
            match self.outer.pop() {
                Some(open) => (self.remaining, self.set) = (open.remaining, open.set),
                None => {
                    self.complete = true;
                    break;
                }
            }
        }
        Ok(item)
    }

    /// Opens a container of `items` items (not yet counted against the depth).
    #[inline(always)]
    fn enter(&mut self, items: usize, set: u32) -> Result<(), &'static str> {
        if self.outer.len() >= Payload::MAX_DEPTH {
            return Err("containers nested too deep");
        }
        // An empty container closes at once (read_item pops it).
        self.outer.push(Open { remaining: self.remaining, set: self.set });
        (self.remaining, self.set) = (items, set);
        Ok(())
    }

    #[inline(always)]
    fn byte(&mut self) -> Result<u8, &'static str> {
        let byte = *self.bytes.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(byte)
    }

    #[inline(always)]
    fn take(&mut self, len: usize) -> Result<&'a [u8], &'static str> {
        let bytes: &'a [u8] = self.bytes;
        let end = self.pos.checked_add(len).ok_or("truncated")?;
        let data = bytes.get(self.pos..end).ok_or("truncated")?;
        self.pos = end;
        Ok(data)
    }

    #[inline(always)]
    fn f64(&mut self) -> Result<f64, &'static str> {
        let data = self.take(8)?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(data);
        Ok(f64::from_le_bytes(raw))
    }

    /// A length, then that many bytes.
    #[inline(always)]
    fn data(&mut self) -> Result<&'a [u8], &'static str> {
        let len = self.len(1)?;
        self.take(len)
    }

    /// A length of things that take at least `min_bytes` each: no more than the bytes left hold.
    #[inline(always)]
    fn len(&mut self, min_bytes: usize) -> Result<usize, &'static str> {
        let len = self.varint()?;
        let left = (self.bytes.len() - self.pos) / min_bytes;
        if len > left as u64 {
            return Err("a length beyond the end of the buffer");
        }
        Ok(len as usize)
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, &'static str> {
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(first as u64);
        }
        self.varint_rest(first)
    }

    #[inline]
    fn varint_rest(&mut self, first: u8) -> Result<u64, &'static str> {
        let mut value = (first & 0x7f) as u64;
        let mut shift = 7;
        loop {
            let byte = self.byte()?;
            if shift == 63 && byte > 1 {
                return Err("a varint beyond 64 bits");
            }
            value |= ((byte & 0x7f) as u64) << shift;
            if byte < 0x80 {
                if byte == 0 {
                    return Err("a varint not in its shortest form");
                }
                return Ok(value);
            }
            shift += 7;
        }
    }
}

/// Hands out the next id of a counter.
#[inline(always)]
fn next_id(counter: &mut u32) -> Result<u32, &'static str> {
    let id = *counter;
    *counter = id.checked_add(1).filter(|&n| n != NOT_A_SET).ok_or("too many ids")?;
    Ok(id)
}
