//! A model of structured values (what Python objects the binding walks look like to the format),
//! with their encoding and decoding walks, an exact comparison and a random generator. Shared by
//! `tests/structured.rs` and the fuzz crate (`fuzz/src/structured.rs` includes this file).
//!
//! Identity: lists, dicts, sets and frozensets are nodes of a [`Graph`], referred to by index, so
//! a node can be reached twice or from inside itself; kept strings likewise. Tuples and
//! bytearrays are either nodes (reached twice, never from inside a tuple itself) or anonymous
//! values ([`Value::Tuple`], [`Value::ByteArray`]: reached once); the format gives both an id, so
//! a decoded graph has nodes for them all, and [`same`] pairs an anonymous one with a node
//! reached once.
#![allow(dead_code)]

use std::fmt::Write as _;

use subinterpreters_core::{DepthExceeded, Encoder, FormatError, Item, MemoId, Payload, StrId, Structured};

/// A value; containers with identity are [`Value::Node`]s.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    BigInt(String),
    Float(f64),
    Complex(f64, f64),
    Str(Vec<u8>),
    StrSurrogates(Vec<u8>),
    /// `Graph::kept[i]`: sent once, referred to afterwards.
    Kept(usize),
    Bytes(Vec<u8>),
    /// A bytearray reached once (a shared one is a [`Node::ByteArray`]).
    ByteArray(Vec<u8>),
    /// A tuple reached once (a shared one is a [`Node::Tuple`]).
    Tuple(Vec<Value>),
    /// `Graph::nodes[i]`.
    Node(usize),
    /// An attached payload, made by [`attachment`] from this number.
    Attach(i64),
}

/// A container with identity.
#[derive(Debug, Clone)]
pub enum Node {
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    FrozenSet(Vec<Value>),
    /// Never reached from inside itself.
    Tuple(Vec<Value>),
    ByteArray(Vec<u8>),
}

/// A value and the nodes and kept strings it refers to.
#[derive(Debug, Clone)]
pub struct Graph {
    pub root: Value,
    pub nodes: Vec<Node>,
    pub kept: Vec<Vec<u8>>,
}

impl Graph {
    pub fn new(root: Value) -> Self {
        Graph { root, nodes: Vec::new(), kept: Vec::new() }
    }

    pub fn node(&mut self, node: Node) -> Value {
        self.nodes.push(node);
        Value::Node(self.nodes.len() - 1)
    }

    pub fn keep(&mut self, text: &[u8]) -> Value {
        self.kept.push(text.to_vec());
        Value::Kept(self.kept.len() - 1)
    }
}

/// The payload an [`Value::Attach`] stands for: a few kinds, so attachments differ in type too.
pub fn attachment(n: i64) -> Payload {
    match n.rem_euclid(3) {
        0 => Payload::Int(n),
        1 => Payload::Str(n.to_string().into_bytes().into()),
        _ => Payload::Tuple(Box::new([Payload::Int(n), Payload::None])),
    }
}

/// The number an attachment was made from ([`attachment`]'s inverse; any other payload: `None`).
pub fn attachment_number(payload: &Payload) -> Option<i64> {
    let n = match payload {
        Payload::Int(n) => *n,
        Payload::Str(text) => std::str::from_utf8(text).ok()?.parse().ok()?,
        Payload::Tuple(items) => match &items[..] {
            [Payload::Int(n), Payload::None] => *n,
            _ => return None,
        },
        _ => return None,
    };
    (attachment(n) == *payload).then_some(n)
}

// ---- encoding and decoding ----------------------------------------------------------------------

/// Encodes `graph` as the binding would walk the objects: each node and kept string written once,
/// then referred to.
pub fn encode(graph: &Graph) -> Result<Structured, DepthExceeded> {
    let mut walk = EncodeWalk {
        graph,
        encoder: Encoder::new(),
        memo: vec![None; graph.nodes.len()],
        strs: vec![None; graph.kept.len()],
    };
    walk.value(&graph.root)?;
    assert!(walk.encoder.is_complete(), "the walk wrote one complete value");
    Ok(walk.encoder.finish())
}

struct EncodeWalk<'g> {
    graph: &'g Graph,
    encoder: Encoder,
    memo: Vec<Option<MemoId>>,
    strs: Vec<Option<StrId>>,
}

impl EncodeWalk<'_> {
    fn value(&mut self, value: &Value) -> Result<(), DepthExceeded> {
        let e = &mut self.encoder;
        match value {
            Value::None => e.none(),
            Value::Bool(v) => e.bool(*v),
            Value::Int(v) => e.int(*v),
            Value::BigInt(v) => e.big_int(v),
            Value::Float(v) => e.float(*v),
            Value::Complex(re, im) => e.complex(*re, *im),
            Value::Str(v) => e.str(v),
            Value::StrSurrogates(v) => e.str_surrogates(v),
            Value::Kept(i) => match self.strs[*i] {
                Some(id) => e.str_ref(id),
                None => self.strs[*i] = Some(e.str_kept(&self.graph.kept[*i])),
            },
            Value::Bytes(v) => e.bytes(v),
            Value::ByteArray(v) => {
                e.bytearray(v);
            }
            Value::Tuple(items) => {
                e.tuple(items.len())?;
                for item in items {
                    self.value(item)?;
                }
                self.encoder.end();
            }
            Value::Node(i) => {
                if let Some(id) = self.memo[*i] {
                    e.memo_ref(id);
                    return Ok(());
                }
                let graph = self.graph;
                match &graph.nodes[*i] {
                    Node::ByteArray(v) => {
                        self.memo[*i] = Some(e.bytearray(v));
                        return Ok(());
                    }
                    Node::List(items) | Node::Set(items) | Node::FrozenSet(items) | Node::Tuple(items) => {
                        let id = match &graph.nodes[*i] {
                            Node::List(_) => e.list(items.len())?,
                            Node::Set(_) => e.set(items.len())?,
                            Node::Tuple(_) => e.tuple(items.len())?,
                            _ => e.frozenset(items.len())?,
                        };
                        self.memo[*i] = Some(id);
                        for item in items {
                            self.value(item)?;
                        }
                    }
                    Node::Dict(pairs) => {
                        self.memo[*i] = Some(e.dict(pairs.len())?);
                        for (key, value) in pairs {
                            self.value(key)?;
                            self.value(value)?;
                        }
                    }
                }
                self.encoder.end();
            }
            Value::Attach(n) => e.attach(attachment(*n)),
        }
        Ok(())
    }
}

/// Decodes a value as the binding would build the objects, checking the decoder's promises on
/// the way (ids counted up from 0, references only to what was seen) and, at the end, that
/// nothing follows the value.
pub fn decode(structured: &Structured) -> Result<Graph, FormatError> {
    let mut walk = DecodeWalk { graph: Graph::new(Value::None), memo: Vec::new(), strs: Vec::new() };
    let mut decoder = structured.decoder();
    walk.graph.root = walk.value(&mut decoder)?;
    assert!(decoder.is_complete());
    decoder.finish()?;
    Ok(walk.graph)
}

/// Decodes the first value of `structured` (any bytes): `Ok((graph, bytes read))` if it reads as a
/// complete value, whatever follows it.
pub fn decode_prefix(structured: &Structured) -> Result<(Graph, usize), FormatError> {
    let mut walk = DecodeWalk { graph: Graph::new(Value::None), memo: Vec::new(), strs: Vec::new() };
    let mut decoder = structured.decoder();
    walk.graph.root = walk.value(&mut decoder)?;
    assert!(decoder.is_complete(), "the decoder completes the value its items describe");
    assert!(decoder.next().is_err(), "no item after the value");
    Ok((walk.graph, decoder.position()))
}

struct DecodeWalk {
    graph: Graph,
    /// MemoId -> node.
    memo: Vec<usize>,
    /// StrId -> kept string.
    strs: Vec<usize>,
}

impl DecodeWalk {
    fn items(
        &mut self,
        decoder: &mut subinterpreters_core::Decoder<'_>,
        len: usize,
    ) -> Result<Vec<Value>, FormatError> {
        (0..len).map(|_| self.value(decoder)).collect()
    }

    fn node(&mut self, id: MemoId, node: Node) -> usize {
        assert_eq!(id.index(), self.memo.len(), "MemoIds count up from 0");
        let at = self.graph.nodes.len();
        self.graph.nodes.push(node);
        self.memo.push(at);
        at
    }

    /// A list, set, frozenset or tuple: registered before its items are read, as they may refer
    /// to it (a list) or must not (the others: the decoder refuses that).
    fn sequence(
        &mut self,
        decoder: &mut subinterpreters_core::Decoder<'_>,
        id: MemoId,
        len: usize,
        make: fn(Vec<Value>) -> Node,
    ) -> Result<Value, FormatError> {
        let at = self.node(id, make(Vec::new()));
        let items = self.items(decoder, len)?;
        self.graph.nodes[at] = make(items);
        Ok(Value::Node(at))
    }

    fn value(&mut self, decoder: &mut subinterpreters_core::Decoder<'_>) -> Result<Value, FormatError> {
        Ok(match decoder.next()? {
            Item::None => Value::None,
            Item::Bool(v) => Value::Bool(v),
            Item::Int(v) => Value::Int(v),
            Item::BigInt(v) => Value::BigInt(v.to_owned()),
            Item::Float(v) => Value::Float(v),
            Item::Complex(re, im) => Value::Complex(re, im),
            Item::Str(v) => Value::Str(v.to_vec()),
            Item::StrSurrogates(v) => Value::StrSurrogates(v.to_vec()),
            Item::StrKept(v, id) => {
                assert_eq!(id.index(), self.strs.len(), "StrIds count up from 0");
                self.graph.kept.push(v.to_vec());
                self.strs.push(self.graph.kept.len() - 1);
                Value::Kept(self.graph.kept.len() - 1)
            }
            Item::StrRef(id) => Value::Kept(self.strs[id.index()]),
            Item::Bytes(v) => Value::Bytes(v.to_vec()),
            Item::ByteArray(v, id) => Value::Node(self.node(id, Node::ByteArray(v.to_vec()))),
            Item::Tuple(len, id) => self.sequence(decoder, id, len, Node::Tuple)?,
            Item::List(len, id) => self.sequence(decoder, id, len, Node::List)?,
            Item::Set(len, id) => self.sequence(decoder, id, len, Node::Set)?,
            Item::FrozenSet(len, id) => self.sequence(decoder, id, len, Node::FrozenSet)?,
            Item::Dict(len, id) => {
                let at = self.node(id, Node::Dict(Vec::new()));
                let mut pairs = Vec::with_capacity(len);
                for _ in 0..len {
                    let key = self.value(decoder)?;
                    pairs.push((key, self.value(decoder)?));
                }
                self.graph.nodes[at] = Node::Dict(pairs);
                Value::Node(at)
            }
            Item::MemoRef(id) => Value::Node(self.memo[id.index()]),
            Item::Attachment(payload) => {
                Value::Attach(attachment_number(payload).expect("an attachment made by `attachment`"))
            }
        })
    }
}

// ---- comparison ---------------------------------------------------------------------------------

/// `Ok` if `a` and `b` are the same value: the same kinds (floats bit for bit), and the same
/// sharing: a node or kept string reached twice in one is reached twice at the same places in the
/// other (a bijection between their nodes and between their kept strings). `Err` says where not.
pub fn same(a: &Graph, b: &Graph) -> Result<(), String> {
    let mut compare = Compare {
        a,
        b,
        nodes_ab: vec![None; a.nodes.len()],
        nodes_ba: vec![None; b.nodes.len()],
        kept_ab: vec![None; a.kept.len()],
        kept_ba: vec![None; b.kept.len()],
    };
    compare.value(&a.root, &b.root).map_err(|e| format!("root{e}"))
}

struct Compare<'g> {
    a: &'g Graph,
    b: &'g Graph,
    nodes_ab: Vec<Option<usize>>,
    nodes_ba: Vec<Option<usize>>,
    kept_ab: Vec<Option<usize>>,
    kept_ba: Vec<Option<usize>>,
}

/// Pairs `i` with `j` in a bijection: `Some(true)` if newly paired, `Some(false)` if already
/// paired so, `None` if either is paired with something else.
fn pair(ab: &mut [Option<usize>], ba: &mut [Option<usize>], i: usize, j: usize) -> Option<bool> {
    match (ab[i], ba[j]) {
        (None, None) => {
            ab[i] = Some(j);
            ba[j] = Some(i);
            Some(true)
        }
        (Some(jj), Some(ii)) if jj == j && ii == i => Some(false),
        _ => None,
    }
}

impl Compare<'_> {
    fn values(&mut self, x: &[Value], y: &[Value]) -> Result<(), String> {
        if x.len() != y.len() {
            return Err(format!(": {} items != {} items", x.len(), y.len()));
        }
        for (k, (p, q)) in x.iter().zip(y).enumerate() {
            self.value(p, q).map_err(|e| format!("[{k}]{e}"))?;
        }
        Ok(())
    }

    fn value(&mut self, x: &Value, y: &Value) -> Result<(), String> {
        use Value as V;
        let equal = match (x, y) {
            (V::None, V::None) => true,
            (V::Bool(p), V::Bool(q)) => p == q,
            (V::Int(p), V::Int(q)) => p == q,
            (V::BigInt(p), V::BigInt(q)) => p == q,
            (V::Float(p), V::Float(q)) => p.to_bits() == q.to_bits(),
            (V::Complex(p, r), V::Complex(q, s)) => p.to_bits() == q.to_bits() && r.to_bits() == s.to_bits(),
            (V::Str(p), V::Str(q))
            | (V::StrSurrogates(p), V::StrSurrogates(q))
            | (V::Bytes(p), V::Bytes(q))
            | (V::ByteArray(p), V::ByteArray(q)) => p == q,
            // An anonymous tuple or bytearray and a node reached only here.
            (V::Tuple(_) | V::ByteArray(_), V::Node(j)) => {
                let node = anonymous(&mut self.nodes_ba, *j, &self.b.nodes[*j]).map_err(|e| format!(": {e}"))?;
                return self.anonymous_and_node(x, node, true);
            }
            (V::Node(i), V::Tuple(_) | V::ByteArray(_)) => {
                let node = anonymous(&mut self.nodes_ab, *i, &self.a.nodes[*i]).map_err(|e| format!(": {e}"))?;
                return self.anonymous_and_node(y, node, false);
            }
            (V::Kept(i), V::Kept(j)) => {
                pair(&mut self.kept_ab, &mut self.kept_ba, *i, *j).is_some() && self.a.kept[*i] == self.b.kept[*j]
            }
            (V::Tuple(p), V::Tuple(q)) => return self.values(p, q),
            (V::Node(i), V::Node(j)) => match pair(&mut self.nodes_ab, &mut self.nodes_ba, *i, *j) {
                None => false,
                Some(false) => true,
                Some(true) => {
                    let (a, b) = (self.a, self.b);
                    return match (&a.nodes[*i], &b.nodes[*j]) {
                        (Node::List(p), Node::List(q))
                        | (Node::Set(p), Node::Set(q))
                        | (Node::FrozenSet(p), Node::FrozenSet(q))
                        | (Node::Tuple(p), Node::Tuple(q)) => self.values(p, q),
                        (Node::ByteArray(p), Node::ByteArray(q)) if p == q => Ok(()),
                        (Node::Dict(p), Node::Dict(q)) => {
                            if p.len() != q.len() {
                                return Err(format!(": dict of {} != dict of {}", p.len(), q.len()));
                            }
                            for (k, ((pk, pv), (qk, qv))) in p.iter().zip(q).enumerate() {
                                self.value(pk, qk).map_err(|e| format!(".key{k}{e}"))?;
                                self.value(pv, qv).map_err(|e| format!(".value{k}{e}"))?;
                            }
                            Ok(())
                        }
                        (p, q) => Err(format!(": {} != {}", node_kind(p), node_kind(q))),
                    };
                }
            },
            (V::Attach(p), V::Attach(q)) => p == q,
            _ => false,
        };
        if equal {
            Ok(())
        } else {
            Err(format!(": {x:?} != {y:?}"))
        }
    }
}

impl Compare<'_> {
    /// Compares an anonymous tuple or bytearray with a node's contents (`value_first`: the
    /// anonymous one is in `a`).
    fn anonymous_and_node(&mut self, value: &Value, node: &Node, value_first: bool) -> Result<(), String> {
        match (value, node) {
            (Value::Tuple(p), Node::Tuple(q)) => {
                if value_first {
                    self.values(p, q)
                } else {
                    self.values(q, p)
                }
            }
            (Value::ByteArray(p), Node::ByteArray(q)) if p == q => Ok(()),
            _ => Err(format!(": {value:?} != {}", node_kind(node))),
        }
    }
}

/// Marks node `j` as matched by an anonymous value (which is reached once): `Err` if `j` was
/// matched already (a node reached twice is no anonymous value).
fn anonymous<'g>(matched: &mut [Option<usize>], j: usize, node: &'g Node) -> Result<&'g Node, String> {
    if matched[j].is_some() {
        return Err(format!("a {} reached twice against one reached once", node_kind(node)));
    }
    matched[j] = Some(usize::MAX);
    Ok(node)
}

fn node_kind(node: &Node) -> &'static str {
    match node {
        Node::List(_) => "list",
        Node::Dict(_) => "dict",
        Node::Set(_) => "set",
        Node::FrozenSet(_) => "frozenset",
        Node::Tuple(_) => "tuple",
        Node::ByteArray(_) => "bytearray",
    }
}

// ---- random values ------------------------------------------------------------------------------

/// Where random choices come from.
pub trait Source {
    fn next_u64(&mut self) -> u64;

    /// Uniform-ish in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// xorshift64*: small and seedable.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
}

impl Source for XorShift {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Choices read from a byte string (a fuzzer's input), a byte at a time; zeros once it runs out,
/// which choose the smallest, shortest things, so generation always ends.
pub struct ByteSource<'a> {
    pub data: &'a [u8],
}

impl Source for ByteSource<'_> {
    fn next_u64(&mut self) -> u64 {
        match self.data.split_first() {
            Some((&byte, rest)) => {
                self.data = rest;
                // Stretch one byte over 64 bits, so `below(n)` for larger n still varies.
                (byte as u64).wrapping_mul(0x0101_0101_0101_0101) ^ ((byte as u64) << 57)
            }
            None => 0,
        }
    }
}

/// Bounds of a random value.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Items, roughly.
    pub max_items: usize,
    /// Nested containers, at most.
    pub max_depth: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape { max_items: 200, max_depth: 8 }
    }
}

/// A random value: every kind of item, edge-case scalars, shared nodes and cycles (never a
/// reference to a set or frozenset from inside itself), kept strings referred to again, and
/// attachments. Now and then, instead, a chain nested up to `Payload::MAX_DEPTH` deep.
pub fn generate(source: &mut dyn Source, shape: Shape) -> Graph {
    let mut generator = Generator {
        source,
        graph: Graph::new(Value::None),
        budget: shape.max_items,
        open_sets: Vec::new(),
        attachments: 0,
    };
    let root = if generator.source.chance(16) {
        let depth = Payload::MAX_DEPTH - generator.source.below(8) as usize;
        generator.chain(depth)
    } else {
        generator.value(shape.max_depth)
    };
    generator.graph.root = root;
    generator.graph
}

/// A chain of `depth` nested containers of random kinds (a few siblings on the way), ending in a
/// scalar: `depth` levels deep exactly.
pub fn chain(source: &mut dyn Source, depth: usize) -> Graph {
    let mut generator =
        Generator { source, graph: Graph::new(Value::None), budget: 64, open_sets: Vec::new(), attachments: 0 };
    generator.graph.root = generator.chain(depth);
    generator.graph
}

struct Generator<'s> {
    source: &'s mut dyn Source,
    graph: Graph,
    /// Items still to make; once spent, only scalars and empty containers.
    budget: usize,
    /// Sets, frozensets and tuples being filled: never referred to from inside.
    open_sets: Vec<usize>,
    attachments: i64,
}

const EDGE_INTS: &[i64] = &[
    0,
    1,
    -1,
    2,
    -2,
    63,
    64,
    -64,
    -65,
    95,
    96,
    -32,
    -33,
    127,
    128,
    -128,
    -129,
    255,
    256,
    8191,
    8192,
    16383,
    16384,
    i32::MAX as i64,
    i32::MIN as i64,
    u32::MAX as i64,
    i64::MAX,
    i64::MIN,
    i64::MAX - 1,
    i64::MIN + 1,
];

const EDGE_FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    f64::MIN_POSITIVE,
    5e-324,
    f64::MAX,
    f64::MIN,
    f64::EPSILON,
];

impl Generator<'_> {
    fn value(&mut self, depth_left: usize) -> Value {
        if self.budget == 0 {
            return self.scalar();
        }
        self.budget -= 1;
        match self.source.below(100) {
            0..=39 => self.scalar(),
            40..=51 => self.kept_str(),
            52..=59 => match self.shared_node() {
                Some(node) => node,
                None => self.scalar(),
            },
            60..=63 => self.attachment(),
            _ if depth_left == 0 => self.scalar(),
            _ => self.container(depth_left),
        }
    }

    fn container(&mut self, depth_left: usize) -> Value {
        let len = self.len();
        let kind = self.source.below(5);
        let items = |g: &mut Self, len: usize| (0..len).map(|_| g.value(depth_left - 1)).collect::<Vec<_>>();
        match kind {
            0 if self.source.chance(2) => Value::Tuple(items(self, len)),
            0 => {
                // A tuple that may be reached again, once complete (never from inside itself).
                let node = self.graph.node(Node::Tuple(Vec::new()));
                let Value::Node(at) = node else { unreachable!() };
                self.open_sets.push(at);
                let items = items(self, len);
                self.open_sets.pop();
                self.graph.nodes[at] = Node::Tuple(items);
                node
            }
            1 => {
                // Registered before its items, which may refer to it: a cycle.
                let node = self.graph.node(Node::List(Vec::new()));
                let Value::Node(at) = node else { unreachable!() };
                self.graph.nodes[at] = Node::List(items(self, len));
                node
            }
            2 => {
                let node = self.graph.node(Node::Dict(Vec::new()));
                let Value::Node(at) = node else { unreachable!() };
                let pairs = (0..len).map(|_| (self.value(depth_left - 1), self.value(depth_left - 1))).collect();
                self.graph.nodes[at] = Node::Dict(pairs);
                node
            }
            _ => {
                let make = if kind == 3 { Node::Set } else { Node::FrozenSet };
                let node = self.graph.node(make(Vec::new()));
                let Value::Node(at) = node else { unreachable!() };
                self.open_sets.push(at);
                let items = items(self, len);
                self.open_sets.pop();
                self.graph.nodes[at] = make(items);
                node
            }
        }
    }

    fn chain(&mut self, depth: usize) -> Value {
        if depth == 0 {
            return self.leaf();
        }
        let siblings = if self.source.chance(8) { self.source.below(3) as usize } else { 0 };
        let position = self.source.below(siblings as u64 + 1) as usize;
        let mut items: Vec<Value> = (0..siblings).map(|_| self.leaf()).collect();
        let kind = self.source.below(5);
        let make: fn(Vec<Value>) -> Node = match kind {
            1 => Node::List,
            3 => Node::Set,
            4 => Node::FrozenSet,
            _ => Node::List, // tuples and dicts below
        };
        match kind {
            0 => {
                items.insert(position, self.chain(depth - 1));
                Value::Tuple(items)
            }
            2 => {
                let node = self.graph.node(Node::Dict(Vec::new()));
                let Value::Node(at) = node else { unreachable!() };
                let key = self.leaf();
                let inner = self.chain(depth - 1);
                let mut pairs: Vec<(Value, Value)> = items.into_iter().map(|v| (self.leaf(), v)).collect();
                pairs.insert(position, (key, inner));
                self.graph.nodes[at] = Node::Dict(pairs);
                node
            }
            _ => {
                let node = self.graph.node(make(Vec::new()));
                let Value::Node(at) = node else { unreachable!() };
                items.insert(position, self.chain(depth - 1));
                self.graph.nodes[at] = make(items);
                node
            }
        }
    }

    /// A container length: mostly small, now and then past one varint byte.
    fn len(&mut self) -> usize {
        let len = match self.source.below(16) {
            0 => 0,
            1 => 120 + self.source.below(20) as usize,
            _ => self.source.below(6) as usize,
        };
        let len = len.min(self.budget);
        self.budget -= len;
        len
    }

    /// A node already made (maybe still being filled: a cycle), but not an open set or tuple.
    fn shared_node(&mut self) -> Option<Value> {
        if self.graph.nodes.is_empty() {
            return None;
        }
        let at = self.source.below(self.graph.nodes.len() as u64) as usize;
        (!self.open_sets.contains(&at)).then_some(Value::Node(at))
    }

    fn kept_str(&mut self) -> Value {
        if !self.graph.kept.is_empty() && self.source.chance(2) {
            return Value::Kept(self.source.below(self.graph.kept.len() as u64) as usize);
        }
        let text = self.text();
        self.graph.keep(&text)
    }

    fn attachment(&mut self) -> Value {
        self.attachments += 1;
        Value::Attach(self.attachments * if self.source.chance(2) { -1 } else { 1 })
    }

    fn int(&mut self) -> i64 {
        match self.source.below(4) {
            0 => EDGE_INTS[self.source.below(EDGE_INTS.len() as u64) as usize],
            1 => self.source.next_u64() as i64,
            2 => (self.source.next_u64() as i64) >> self.source.below(64),
            _ => self.source.below(200) as i64 - 50,
        }
    }

    fn float(&mut self) -> f64 {
        if self.source.chance(2) {
            EDGE_FLOATS[self.source.below(EDGE_FLOATS.len() as u64) as usize]
        } else {
            f64::from_bits(self.source.next_u64())
        }
    }

    fn bytes(&mut self) -> Vec<u8> {
        let len = match self.source.below(8) {
            0 => 100 + self.source.below(200) as usize,
            _ => self.source.below(12) as usize,
        };
        (0..len).map(|_| self.source.next_u64() as u8).collect()
    }

    /// Text as UTF-8: ASCII, Latin-1, CJK and astral characters.
    fn text(&mut self) -> Vec<u8> {
        let len = match self.source.below(8) {
            0 => 60 + self.source.below(100) as usize,
            _ => self.source.below(10) as usize,
        };
        let mut out = String::new();
        for _ in 0..len {
            let c = match self.source.below(8) {
                0 => char::from_u32(0xa0 + self.source.below(0x60) as u32),
                1 => char::from_u32(0x4e00 + self.source.below(0x100) as u32),
                2 => char::from_u32(0x1f600 + self.source.below(0x40) as u32),
                _ => char::from_u32(b'a' as u32 + self.source.below(26) as u32),
            };
            out.push(c.unwrap_or('?'));
        }
        out.into_bytes()
    }

    /// A big int literal (beyond 64 bits), as `hex()` writes it.
    fn big_int(&mut self) -> String {
        let mut text = String::from(if self.source.chance(2) { "-0x" } else { "0x" });
        let digits = 17 + self.source.below(40);
        let _ = write!(text, "{:x}", 1 + self.source.below(15));
        for _ in 1..digits {
            let _ = write!(text, "{:x}", self.source.below(16));
        }
        text
    }

    /// A scalar that is no container (no empty tuple).
    fn leaf(&mut self) -> Value {
        match self.scalar() {
            Value::Tuple(_) => Value::None,
            leaf => leaf,
        }
    }

    fn scalar(&mut self) -> Value {
        match self.source.below(13) {
            0 => Value::None,
            1 => Value::Bool(self.source.chance(2)),
            2 | 3 => Value::Int(self.int()),
            4 => Value::BigInt(self.big_int()),
            5 => Value::Float(self.float()),
            6 => Value::Complex(self.float(), self.float()),
            7 | 8 => Value::Str(self.text()),
            9 => {
                // A lone surrogate (U+D800..U+DFFF as surrogatepass writes it) amid text.
                let mut text = self.text();
                let surrogate = 0xd800 + self.source.below(0x800) as u32;
                let at = self.source.below(text.len() as u64 + 1) as usize;
                let encoded = [
                    0xe0 | (surrogate >> 12) as u8,
                    0x80 | ((surrogate >> 6) & 0x3f) as u8,
                    0x80 | (surrogate & 0x3f) as u8,
                ];
                let at = (0..=at).rev().find(|&i| i == 0 || i == text.len() || text[i] & 0xc0 != 0x80).unwrap_or(0);
                text.splice(at..at, encoded);
                Value::StrSurrogates(text)
            }
            10 => Value::Bytes(self.bytes()),
            11 if self.source.chance(2) => Value::ByteArray(self.bytes()),
            11 => {
                let bytes = self.bytes();
                self.graph.node(Node::ByteArray(bytes))
            }
            _ => Value::Tuple(Vec::new()),
        }
    }
}
