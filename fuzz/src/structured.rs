//! Fuzz harness of the structured format (`subinterpreters_core::structured`), on the model of
//! values the core's tests use (`crates/core/tests/structured_model`, included here):
//!
//! - *bytes* (first byte even): the rest of the input is handed to the decoder as a buffer, with
//!   as many attachments as the first byte's upper seven bits say. Decoding must never panic; whatever reads as a complete value must re-encode
//!   to exactly the bytes read (every encoding is canonical), and decode to the same value again.
//! - *values* (first byte odd): the rest of the input is the choices of the model's random value
//!   generator; the value must encode (or be refused as too deep, exactly when it is) and decode
//!   back to the same value, sharing, cycles and attachments included.
//!
//! Entry point: [`run`]. The stable driver (`fuzz-driver --target structured`) makes inputs of
//! both kinds, the bytes ones mostly by mutating the encodings of random values, so that they get
//! past the first item; the libFuzzer target (`fuzz_targets/structured.rs`) mutates them further.

#[path = "../../crates/core/tests/structured_model/mod.rs"]
pub mod model;

use std::sync::atomic::{AtomicU64, Ordering};

use model::{attachment, chain, decode, decode_prefix, encode, generate, same, ByteSource, Shape, Source};
use subinterpreters_core::{Item, Payload, Structured};

/// Counts of what the runs exercised (for the driver's summary).
pub static STATS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
/// Names of [`STATS`].
pub const STAT_NAMES: [&str; 5] =
    ["buffers refused", "buffers decoded", "values round-tripped", "values refused as too deep", "nodes"];

fn count(stat: usize, n: usize) {
    let n = n as u64;
    STATS[stat].fetch_add(n, Ordering::Relaxed);
}

/// Runs one input; panics on any difference.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        run_bytes(rest, (mode >> 1) as usize);
    } else {
        run_value(rest);
    }
}

/// Decodes `bytes` (with `attachments` attachments) as far as they go.
pub fn run_bytes(bytes: &[u8], attachments: usize) {
    let attached: Vec<Payload> = (0..attachments as i64).map(attachment).collect();
    let structured = Structured::from_parts(bytes.into(), attached.into_boxed_slice());
    // Item by item, as a receiver would read it, to the end or the first error, checking what
    // the binding relies on: ids counting up from 0 and references only to what was seen (never
    // to a set being filled), lengths the rest of the buffer can hold, nesting within the limit,
    // attachments lent in order, completion exactly when the value's last item is read.
    let mut decoder = structured.decoder();
    let (mut strs, mut memos, mut attachments_seen) = (0usize, 0usize, 0usize);
    // Open containers: items still to come, and the MemoId of a set or frozenset.
    let mut open: Vec<(usize, Option<usize>)> = Vec::new();
    let mut items = 0usize;
    let error = loop {
        let item = match decoder.next() {
            Ok(item) => item,
            Err(error) => break Some(error),
        };
        items += 1;
        let left = bytes.len() - decoder.position();
        if let Some(top) = open.last_mut() {
            top.0 -= 1;
        }
        let mut enter = |items: usize, set: Option<usize>| {
            assert!(items <= left, "{items} items announced with {left} bytes left");
            open.push((items, set));
            assert!(open.len() <= Payload::MAX_DEPTH, "nested too deep");
        };
        match item {
            Item::StrKept(_, id) => {
                assert_eq!(id.index(), strs, "StrIds count up");
                strs += 1;
            }
            Item::StrRef(id) => assert!(id.index() < strs, "a reference to a string kept before"),
            Item::ByteArray(data, id) => {
                assert!(data.len() <= bytes.len());
                assert_eq!(id.index(), memos, "MemoIds count up");
                memos += 1;
            }
            Item::Tuple(len, id)
            | Item::List(len, id)
            | Item::Set(len, id)
            | Item::FrozenSet(len, id)
            | Item::Dict(len, id) => {
                assert_eq!(id.index(), memos, "MemoIds count up");
                memos += 1;
                match item {
                    Item::List(..) => enter(len, None),
                    Item::Dict(..) => enter(2 * len, None),
                    _ => enter(len, Some(id.index())),
                }
            }
            Item::MemoRef(id) => {
                assert!(id.index() < memos, "a reference to a container seen before");
                assert!(!open.iter().any(|(_, set)| *set == Some(id.index())), "a reference to an open tuple or set");
            }
            Item::Attachment(payload) => {
                assert!(std::ptr::eq(payload, &structured.attachments()[attachments_seen]), "attachments in order");
                attachments_seen += 1;
            }
            Item::Str(data) | Item::StrSurrogates(data) | Item::Bytes(data) => {
                assert!(data.len() <= bytes.len())
            }
            _ => {}
        }
        while open.last().is_some_and(|top| top.0 == 0) {
            open.pop();
        }
        assert_eq!(decoder.is_complete(), open.is_empty(), "complete exactly when the value is");
        if decoder.is_complete() {
            break None;
        }
    };
    if let Some(error) = error {
        assert!(error.offset() < bytes.len().max(1) || error.reason() == "truncated", "{error}");
        assert_eq!(decoder.next(), Err(error), "errors are sticky");
    } else {
        assert!(items >= 1 && decoder.next().is_err(), "nothing after the value");
    }

    // The model's walk reads the same items: the same error, or the same value.
    match (decode_prefix(&structured), error) {
        (Err(model_error), Some(error)) => {
            assert_eq!(model_error, error, "the same error");
            count(0, 1);
        }
        (Ok((graph, read)), None) => {
            assert_eq!(read, decoder.position(), "the same bytes read");
            count(1, 1);
            let again = encode(&graph).expect("what decodes is not too deep");
            assert_eq!(again.bytes(), &bytes[..read], "every encoding is canonical");
            let twice = decode(&again).expect("a re-encoded value decodes");
            if let Err(difference) = same(&graph, &twice) {
                panic!("a re-encoded value decodes differently at {difference}");
            }
        }
        (model, items) => panic!("the model's walk ({model:?}) and the item loop ({items:?}) disagree"),
    }
}

/// A random value from the choices in `choices`: encode, decode, compare.
pub fn run_value(choices: &[u8]) {
    let mut source = ByteSource { data: choices };
    let graph = if source.chance(16) {
        // Around the depth limit, on either side of it.
        let depth = Payload::MAX_DEPTH - 4 + source.below(9) as usize;
        chain(&mut source, depth)
    } else {
        generate(&mut source, Shape { max_items: 400, max_depth: 12 })
    };
    round_trip(&graph);
}

/// Encodes, decodes and compares `graph`; a value nested too deep must be refused.
pub fn round_trip(graph: &model::Graph) {
    let structured = match encode(graph) {
        Ok(structured) => structured,
        Err(refused) => {
            assert!(depth(graph, &graph.root, 0) > refused.limit, "refused a value within the depth limit");
            count(3, 1);
            return;
        }
    };
    let decoded = decode(&structured).unwrap_or_else(|error| panic!("{error} decoding an encoded value"));
    if let Err(difference) = same(graph, &decoded) {
        panic!("decoded value differs at {difference}");
    }
    assert_eq!(encode(&decoded).expect("as deep as the original"), structured, "re-encoding gives the same bytes");
    count(2, 1);
    count(4, graph.nodes.len());
}

/// The deepest nesting of containers in `value` (each node counted on its first visit only).
fn depth(graph: &model::Graph, value: &model::Value, level: usize) -> usize {
    fn walk(graph: &model::Graph, value: &model::Value, level: usize, seen: &mut Vec<bool>) -> usize {
        use model::{Node, Value};
        match value {
            Value::Tuple(items) => items.iter().map(|v| walk(graph, v, level + 1, seen)).max().unwrap_or(level + 1),
            Value::Node(i) if !seen[*i] => {
                seen[*i] = true;
                match &graph.nodes[*i] {
                    Node::ByteArray(_) => level,
                    Node::List(items) | Node::Set(items) | Node::FrozenSet(items) | Node::Tuple(items) => {
                        items.iter().map(|v| walk(graph, v, level + 1, seen)).max().unwrap_or(level + 1)
                    }
                    Node::Dict(pairs) => pairs
                        .iter()
                        .flat_map(|(k, v)| [k, v])
                        .map(|v| walk(graph, v, level + 1, seen))
                        .max()
                        .unwrap_or(level + 1),
                }
            }
            _ => level,
        }
    }
    walk(graph, value, level, &mut vec![false; graph.nodes.len()])
}
