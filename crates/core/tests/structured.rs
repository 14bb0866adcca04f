//! The structured format: values of a model (`structured_model`) encoded and decoded back are the
//! same values, sharing and cycles included; the encoder refuses what is too deep; the decoder
//! refuses malformed buffers with an error, never a panic.
#![cfg(not(loom))]

mod structured_model;

use structured_model::{
    chain, decode, decode_prefix, encode, generate, same, Graph, Node, Shape, Source, Value, XorShift,
};
use subinterpreters_core::{
    queue, DepthExceeded, Encoder, FormatError, Item, MemoId, Payload, QueueHandle, StrId, Structured,
};

/// Encodes, decodes, compares; also re-encodes the decoded value, which must give the same bytes.
#[track_caller]
fn round_trip(graph: &Graph) -> Structured {
    let structured = encode(graph).expect("not too deep");
    let decoded = decode(&structured).unwrap_or_else(|e| panic!("{e} decoding {graph:?}"));
    if let Err(difference) = same(graph, &decoded) {
        panic!("decoded value differs at {difference}\n  sent: {graph:?}\n  got:  {decoded:?}");
    }
    let again = encode(&decoded).expect("not too deep");
    assert_eq!(again, structured, "re-encoding the decoded value gives the same bytes");
    structured
}

fn items(structured: &Structured) -> Vec<Item<'_>> {
    let mut decoder = structured.decoder();
    let mut items = Vec::new();
    while !decoder.is_complete() {
        items.push(decoder.next().expect("well-formed"));
    }
    decoder.finish().expect("nothing after the value");
    items
}

fn raw(bytes: &[u8]) -> Structured {
    Structured::from_parts(bytes.into(), Box::new([]))
}

/// The error decoding `bytes` (with `attachments`) to the end ends in.
fn decode_error(bytes: &[u8], attachments: Vec<Payload>) -> FormatError {
    let structured = Structured::from_parts(bytes.into(), attachments.into_boxed_slice());
    let mut decoder = structured.decoder();
    loop {
        if let Err(error) = decoder.next() {
            assert_eq!(decoder.next(), Err(error), "errors are sticky");
            return error;
        }
        if decoder.is_complete() {
            let result = decoder.finish();
            return result.expect_err("a malformed buffer");
        }
    }
}

// ---- the format, item by item -------------------------------------------------------------------

#[test]
fn items_come_in_the_order_written_with_containers_announcing_their_length() {
    let mut e = Encoder::new();
    let list = e.list(4).unwrap();
    e.int(1);
    let key = e.str_kept(b"k");
    e.dict(2).unwrap();
    e.str_ref(key);
    e.none();
    e.bytes(b"xy");
    e.tuple(0).unwrap();
    e.end();
    e.end();
    e.memo_ref(list);
    e.end();
    assert!(e.is_complete());
    let s = e.finish();
    assert_eq!(
        s.bytes(),
        &[0x0e, 4, 0xa1, 0x09, 1, b'k', 0x0f, 2, 0x0a, 0, 0x00, 0x0b, 2, b'x', b'y', 0x0d, 0, 0x12, 0][..],
        "the documented format"
    );
    assert_eq!(s.byte_len(), 19);
    let list_id = match items(&s)[0] {
        Item::List(4, id) => id,
        other => panic!("{other:?}"),
    };
    assert_eq!(list_id.index(), 0);
    let items = items(&s);
    assert_eq!(items.len(), 9);
    assert!(matches!(items[2], Item::StrKept(b"k", id) if id.index() == 0));
    assert!(matches!(items[3], Item::Dict(2, id) if id.index() == 1));
    assert!(matches!(items[4], Item::StrRef(id) if id.index() == 0));
    assert_eq!(items[8], Item::MemoRef(list_id));
}

#[test]
fn every_kind_round_trips() {
    let mut g = Graph::new(Value::None);
    let kept = g.keep(b"kept");
    let inner_list = g.node(Node::List(vec![Value::Int(7), kept.clone()]));
    let set = g.node(Node::Set(vec![Value::Int(1), Value::Str(b"s".to_vec())]));
    let frozen = g.node(Node::FrozenSet(vec![Value::Bytes(b"f".to_vec())]));
    let dict = g.node(Node::Dict(vec![
        (kept.clone(), inner_list),
        (Value::Tuple(vec![Value::Int(1), Value::None]), set),
        (frozen.clone(), Value::Bool(false)),
    ]));
    g.root = Value::Tuple(vec![
        Value::None,
        Value::Bool(true),
        Value::Bool(false),
        Value::Int(-5),
        Value::Int(1 << 40),
        Value::BigInt("-0x1ffffffffffffffffffff".into()),
        Value::BigInt("0x10000000000000000".into()),
        Value::Float(2.5),
        Value::Complex(1.0, -0.0),
        Value::Str("héllo 世界 😀".as_bytes().to_vec()),
        Value::StrSurrogates(b"a\xed\xa0\x80b".to_vec()),
        kept,
        Value::Bytes(vec![0, 255, 10]),
        Value::ByteArray(b"mutable".to_vec()),
        dict,
        frozen,
        Value::Attach(3),
    ]);
    let s = round_trip(&g);
    assert_eq!(s.attachments(), &[structured_model::attachment(3)]);
}

#[test]
fn ints_round_trip_at_every_edge_and_small_ones_take_one_byte() {
    let mut rng = XorShift::new(11);
    let mut values: Vec<i64> = vec![0, 1, -1, -32, -33, 95, 96, 127, 128, -64, -65, 8191, 8192, i64::MAX, i64::MIN];
    for shift in 0..64 {
        values.push(1i64.wrapping_shl(shift));
        values.push(1i64.wrapping_shl(shift).wrapping_neg());
        values.push(rng.next_u64() as i64 >> shift);
    }
    for v in values {
        let s = round_trip(&Graph::new(Value::Int(v)));
        let expected_len = if (-32..=95).contains(&v) { 1 } else { 1 + varint_len(zigzag(v)) };
        assert_eq!(s.byte_len(), expected_len, "{v}");
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn varint_len(v: u64) -> usize {
    (64 - v.leading_zeros() as usize).div_ceil(7).max(1)
}

#[test]
fn floats_round_trip_bit_for_bit() {
    let specials = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001), // a signalling NaN with a payload
        f64::from_bits(0xfff8_dead_beef_0001),
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        0.1,
    ];
    for re in specials {
        round_trip(&Graph::new(Value::Float(re)));
        for im in specials {
            let s = round_trip(&Graph::new(Value::Complex(re, im)));
            match items(&s)[0] {
                Item::Complex(r, i) => assert_eq!((r.to_bits(), i.to_bits()), (re.to_bits(), im.to_bits())),
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn strings_and_bytes_of_every_length_class_round_trip() {
    for len in [0usize, 1, 127, 128, 300, 16383, 16384, 100_000] {
        let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut g = Graph::new(Value::None);
        let kept = g.keep(&text);
        g.root = Value::Tuple(vec![
            Value::Str(text.clone()),
            Value::StrSurrogates(text.clone()),
            Value::Bytes(text.clone()),
            Value::ByteArray(text.clone()),
            kept.clone(),
            kept,
        ]);
        let s = round_trip(&g);
        assert_eq!(s.byte_len(), 2 + 5 * (1 + varint_len(len as u64) + len) + 2, "{len}");
    }
}

#[test]
fn empty_containers_round_trip() {
    let mut g = Graph::new(Value::None);
    let empties = vec![
        Value::Tuple(vec![]),
        g.node(Node::List(vec![])),
        g.node(Node::Dict(vec![])),
        g.node(Node::Set(vec![])),
        g.node(Node::FrozenSet(vec![])),
        Value::Str(vec![]),
        Value::Bytes(vec![]),
        Value::ByteArray(vec![]),
    ];
    for empty in &empties {
        let mut alone = g.clone();
        alone.root = empty.clone();
        round_trip(&alone);
    }
    let list_of_empty_lists = g.node(Node::List(vec![Value::Tuple(vec![]), Value::Tuple(vec![Value::Tuple(vec![])])]));
    g.root = Value::Tuple(empties.into_iter().chain([list_of_empty_lists]).collect());
    round_trip(&g);
}

// ---- depth --------------------------------------------------------------------------------------

#[test]
fn nesting_up_to_the_limit_round_trips_and_one_more_is_refused_by_the_encoder() {
    assert_eq!(Payload::MAX_DEPTH, 200);
    let mut rng = XorShift::new(5);
    for _ in 0..50 {
        round_trip(&chain(&mut rng, Payload::MAX_DEPTH));
        let too_deep = chain(&mut rng, Payload::MAX_DEPTH + 1);
        assert_eq!(encode(&too_deep).unwrap_err(), DepthExceeded { limit: Payload::MAX_DEPTH });
    }
}

#[test]
fn the_encoder_refuses_each_kind_of_container_past_the_limit_and_writes_nothing_for_it() {
    type Open = fn(&mut Encoder) -> Result<(), DepthExceeded>;
    let openers: [Open; 5] = [
        |e| e.tuple(1).map(drop),
        |e| e.list(1).map(drop),
        |e| e.dict(1).map(drop),
        |e| e.set(1).map(drop),
        |e| e.frozenset(1).map(drop),
    ];
    for (kind, open) in openers.iter().enumerate() {
        let mut e = Encoder::new();
        for depth in 0..Payload::MAX_DEPTH {
            assert_eq!(e.depth(), depth);
            openers[(kind + depth) % 5](&mut e).expect("within the limit");
            if (kind + depth) % 5 == 2 {
                e.none(); // the dict's key
            }
        }
        let written = e.byte_len();
        assert_eq!(open(&mut e), Err(DepthExceeded { limit: Payload::MAX_DEPTH }));
        assert_eq!(e.byte_len(), written, "nothing written for the refused container");
        assert_eq!(e.depth(), Payload::MAX_DEPTH);
        // The value can still be completed at the limit.
        e.none();
        for _ in 0..Payload::MAX_DEPTH {
            e.end();
        }
        assert!(e.is_complete());
        let s = e.finish();
        assert_eq!(items(&s).len(), Payload::MAX_DEPTH + 1 + Payload::MAX_DEPTH / 5);
    }
    assert_eq!(DepthExceeded { limit: 200 }.to_string(), "containers nested more than 200 levels deep");
}

#[test]
fn the_decoder_refuses_nesting_past_the_limit() {
    for tag in [0x0d, 0x0e, 0x10, 0x11] {
        let mut ok: Vec<u8> = [tag, 1].repeat(Payload::MAX_DEPTH);
        ok.push(0x00);
        assert_eq!(items(&raw(&ok)).len(), Payload::MAX_DEPTH + 1);
        let mut too_deep: Vec<u8> = [tag, 1].repeat(Payload::MAX_DEPTH + 1);
        too_deep.push(0x00);
        let error = decode_error(&too_deep, vec![]);
        assert_eq!((error.offset(), error.reason()), (2 * Payload::MAX_DEPTH, "containers nested too deep"));
        // Even an empty container one level too deep.
        let mut empty_too_deep: Vec<u8> = [tag, 1].repeat(Payload::MAX_DEPTH);
        empty_too_deep.extend([tag, 0]);
        assert_eq!(decode_error(&empty_too_deep, vec![]).reason(), "containers nested too deep");
    }
    let mut dicts: Vec<u8> = [0x0f, 1, 0x00].repeat(Payload::MAX_DEPTH + 1);
    dicts.push(0x00);
    assert_eq!(decode_error(&dicts, vec![]).reason(), "containers nested too deep");
}

// ---- identity -----------------------------------------------------------------------------------

#[test]
fn a_container_reached_twice_is_one_memo_id_twice() {
    for make in [Node::List as fn(Vec<Value>) -> Node, Node::Set, Node::FrozenSet] {
        let mut g = Graph::new(Value::None);
        let shared = g.node(make(vec![Value::Int(1), Value::Int(2)]));
        let d = g.node(Node::Dict(vec![(Value::Int(0), shared.clone())]));
        g.root = Value::Tuple(vec![shared.clone(), d, shared]);
        let s = round_trip(&g);
        let items = items(&s);
        let first = match items[1] {
            Item::List(2, id) | Item::Set(2, id) | Item::FrozenSet(2, id) => id,
            ref other => panic!("{other:?}"),
        };
        let refs: Vec<MemoId> =
            items.iter().filter_map(|i| if let Item::MemoRef(id) = i { Some(*id) } else { None }).collect();
        assert_eq!(refs, vec![first, first]);
        // The root tuple, the dict and the shared container: one object, not two, reached twice.
        assert_eq!(decode(&s).unwrap().nodes.len(), 3, "one object, not two");
    }
}

#[test]
fn a_tuple_or_bytearray_reached_twice_is_one_memo_id_twice() {
    let mut g = Graph::new(Value::None);
    let inner = g.node(Node::List(vec![Value::Int(2)]));
    let tuple = g.node(Node::Tuple(vec![Value::Int(1), inner]));
    let bytearray = g.node(Node::ByteArray(b"x".to_vec()));
    let anonymous = Value::Tuple(vec![Value::None]);
    g.root = g.node(Node::List(vec![tuple.clone(), bytearray.clone(), anonymous, tuple, bytearray]));
    let s = round_trip(&g);
    let items = items(&s);
    let ids: Vec<MemoId> = items
        .iter()
        .filter_map(|i| match i {
            Item::Tuple(_, id) | Item::List(_, id) | Item::ByteArray(_, id) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.iter().map(|id| id.index()).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4], "ids in item order");
    let refs: Vec<MemoId> =
        items.iter().filter_map(|i| if let Item::MemoRef(id) = i { Some(*id) } else { None }).collect();
    assert_eq!(refs, vec![ids[1], ids[3]], "the tuple and the bytearray again");
    // The root list, the tuple, its list, the bytearray and the anonymous tuple.
    assert_eq!(decode(&s).unwrap().nodes.len(), 5);
}

#[test]
fn cycles_round_trip() {
    // A list containing itself: l = [1]; l.append(l)
    let mut g = Graph::new(Value::None);
    g.nodes.push(Node::List(vec![Value::Int(1), Value::Node(0)]));
    g.root = Value::Node(0);
    let s = round_trip(&g);
    assert_eq!(
        items(&s)[2],
        Item::MemoRef(match items(&s)[0] {
            Item::List(2, id) => id,
            ref other => panic!("{other:?}"),
        })
    );

    // A dict reached from its own value: d = {}; d["self"] = {"parent": d}
    let mut g = Graph::new(Value::Node(0));
    let key = g.keep(b"self");
    g.nodes.push(Node::Dict(vec![]));
    let child = g.node(Node::Dict(vec![(Value::Str(b"parent".to_vec()), Value::Node(0))]));
    g.nodes[0] = Node::Dict(vec![(key, child)]);
    round_trip(&g);

    // Two lists containing each other, through a tuple, inside a set's frozenset neighbour.
    let mut g = Graph::new(Value::None);
    g.nodes.push(Node::List(vec![]));
    g.nodes.push(Node::List(vec![Value::Tuple(vec![Value::Node(0)])]));
    g.nodes[0] = Node::List(vec![Value::Node(1)]);
    let frozen = g.node(Node::FrozenSet(vec![Value::Int(3)]));
    let set = g.node(Node::Set(vec![frozen.clone(), Value::Tuple(vec![frozen])]));
    g.root = Value::Tuple(vec![Value::Node(0), set, Value::Node(1)]);
    round_trip(&g);
}

#[test]
fn kept_strings_are_sent_once_and_referred_to_many_times() {
    let mut g = Graph::new(Value::None);
    let keys: Vec<Value> = ["id", "name", "score"].iter().map(|k| g.keep(k.as_bytes())).collect();
    let records: Vec<Value> =
        (0..1000).map(|i| g.node(Node::Dict(keys.iter().map(|k| (k.clone(), Value::Int(i))).collect()))).collect();
    g.root = g.node(Node::List(records));
    let s = round_trip(&g);
    let items = items(&s);
    let kept: Vec<&[u8]> =
        items.iter().filter_map(|i| if let Item::StrKept(t, _) = i { Some(*t) } else { None }).collect();
    assert_eq!(kept, [&b"id"[..], b"name", b"score"]);
    let refs = items.iter().filter(|i| matches!(i, Item::StrRef(_))).count();
    assert_eq!(refs, 3 * 1000 - 3);
    let decoded = decode(&s).unwrap();
    assert_eq!(decoded.kept.len(), 3);
}

#[test]
fn str_ids_and_memo_ids_count_up_from_zero_separately() {
    let mut e = Encoder::new();
    let outer = e.list(4).unwrap();
    let a = e.str_kept(b"a");
    let inner = e.dict(1).unwrap();
    let b = e.str_kept(b"b");
    e.str_ref(a);
    e.end();
    e.memo_ref(inner);
    e.str_ref(b);
    e.end();
    assert_eq!((outer.index(), inner.index(), a.index(), b.index()), (0, 1, 0, 1));
    let s = e.finish();
    let got = items(&s);
    assert!(matches!(got[2], Item::Dict(1, id) if id == inner));
    assert!(matches!(got[3], Item::StrKept(b"b", id) if id == b));
}

// ---- attachments --------------------------------------------------------------------------------

#[test]
fn attachments_travel_beside_the_bytes_in_the_order_of_their_items() {
    let q: QueueHandle<Payload> = queue(0);
    let (tx, rx) = subinterpreters_core::channel::<Payload>();
    let mut e = Encoder::new();
    e.dict(3).unwrap();
    e.str(b"queue");
    e.attach(Payload::Queue(q.clone()));
    e.str(b"ends");
    e.tuple(3).unwrap();
    e.attach(Payload::SendEnd(tx.clone()));
    e.int(5);
    e.attach(Payload::RecvEnd(rx.clone()));
    e.end();
    e.attach(Payload::Pickled(b"pickle".to_vec().into()));
    e.bool(true);
    e.end();
    let s = e.finish();
    assert_eq!(s.attachments().len(), 4);
    let attached: Vec<&Payload> =
        items(&s).into_iter().filter_map(|i| if let Item::Attachment(p) = i { Some(p) } else { None }).collect();
    assert_eq!(attached.len(), 4);
    for (item, held) in attached.iter().zip(s.attachments()) {
        assert!(std::ptr::eq(*item, held), "an attachment item lends the attached payload itself");
    }
    assert_eq!(*attached[0], Payload::Queue(q));
    assert_eq!(*attached[1], Payload::SendEnd(tx));
    assert_eq!(*attached[2], Payload::RecvEnd(rx));
    assert_eq!(*attached[3], Payload::Pickled(b"pickle".to_vec().into()));
    // A value can travel as a payload, and inside another one's attachments.
    let outer = {
        let mut e = Encoder::new();
        e.list(1).unwrap();
        e.attach(Payload::Structured(Box::new(s)));
        e.end();
        e.finish()
    };
    assert!(matches!(items(&outer)[1], Item::Attachment(Payload::Structured(_))));
}

#[test]
fn structured_payloads_compare_by_bytes_and_attachments() {
    let make = |n: i64, attached: i64| {
        let mut e = Encoder::new();
        e.tuple(2).unwrap();
        e.int(n);
        e.attach(Payload::Int(attached));
        e.end();
        Payload::Structured(Box::new(e.finish()))
    };
    assert_eq!(make(1, 2), make(1, 2));
    assert_ne!(make(1, 2), make(3, 2));
    assert_ne!(make(1, 2), make(1, 3));
    assert_ne!(make(1, 2), Payload::Tuple(Box::new([Payload::Int(1), Payload::Int(2)])));
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Structured>();
    send_sync::<Payload>();
    assert!(format!("{:?}", make(1, 2)).contains("byte_len"));
}

// ---- the encoder's bookkeeping ------------------------------------------------------------------

#[test]
fn the_encoder_knows_when_a_value_is_complete() {
    let mut e = Encoder::with_capacity(64);
    assert!(!e.is_complete(), "nothing yet");
    e.list(2).unwrap();
    e.none();
    assert!(!e.is_complete());
    e.none();
    assert!(!e.is_complete(), "still open");
    e.end();
    assert!(e.is_complete());

    let mut too_few = Encoder::new();
    too_few.list(2).unwrap();
    too_few.none();
    too_few.end();
    assert!(!too_few.is_complete(), "a list that shrank while being walked");

    let mut too_many = Encoder::new();
    too_many.dict(1).unwrap();
    too_many.none();
    too_many.none();
    too_many.none();
    too_many.end();
    assert!(!too_many.is_complete(), "a dict that grew while being walked");

    let mut two_values = Encoder::new();
    two_values.none();
    two_values.none();
    assert!(!two_values.is_complete());

    let mut unbalanced = Encoder::new();
    unbalanced.none();
    unbalanced.end();
    assert!(!unbalanced.is_complete(), "an end with nothing open");
}

// ---- malformed buffers --------------------------------------------------------------------------

#[test]
fn malformed_buffers_are_refused_with_a_reason() {
    let cases: &[(&[u8], &str)] = &[
        (&[], "truncated"),
        (&[0x14], "unknown tag"),
        (&[0x7f], "unknown tag"),
        (&[0x0e, 2, 0x03, 0x80], "truncated"),
        (&[0x0e, 2, 0x00], "a length beyond the end of the buffer"),
        (&[0x07, 5, b'a'], "a length beyond the end of the buffer"),
        (&[0x0e, 200, 1, 0x00], "a length beyond the end of the buffer"),
        (&[0x0f, 2, 0, 0, 0], "a length beyond the end of the buffer"),
        (&[0x0a, 0], "a reference to a string not kept yet"),
        (&[0x0e, 2, 0x09, 1, b'a', 0x0a, 1], "a reference to a string not kept yet"),
        (&[0x12, 0], "a reference to a container not seen yet"),
        (&[0x0e, 1, 0x12, 1], "a reference to a container not seen yet"),
        (&[0x10, 1, 0x12, 0], "a reference to a tuple or set from inside it"),
        (&[0x11, 1, 0x0d, 1, 0x12, 0], "a reference to a tuple or set from inside it"),
        (&[0x0d, 1, 0x12, 0], "a reference to a tuple or set from inside it"),
        (&[0x0d, 1, 0x0e, 1, 0x12, 0], "a reference to a tuple or set from inside it"),
        (&[0x0c, 1, b'x', 0x12, 0], "bytes after the value"),
        (&[0x03, 0x80, 0x00], "a varint not in its shortest form"),
        (&[0x03, 0x02], "a small int not in its short form"),
        (&[0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], "a varint beyond 64 bits"),
        (&[0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x01], "a varint beyond 64 bits"),
        (&[0x04, 2, 0xff, 0xfe], "big int literal not UTF-8"),
        (&[0x05, 0, 0, 0], "truncated"),
        (&[0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0], "truncated"),
        (&[0x13], "more attachment items than attachments"),
        (&[0x00, 0x00], "bytes after the value"),
    ];
    for (bytes, reason) in cases {
        let error = decode_error(bytes, vec![]);
        assert_eq!(error.reason(), *reason, "{bytes:02x?}");
        assert!(error.to_string().contains(reason));
    }
    assert_eq!(decode_error(&[0x13], vec![Payload::None, Payload::None]).reason(), "attachments not referred to");
    assert_eq!(decode_error(&[0x0e, 1, 0x0e, 1, 0x07, 9], vec![]).offset(), 4, "the offset of the item at fault");

    // After the value, `next` refuses to read on.
    let s = raw(&[0x00, 0x00]);
    let mut decoder = s.decoder();
    assert_eq!(decoder.next(), Ok(Item::None));
    assert!(decoder.is_complete());
    assert_eq!(decoder.next().unwrap_err().reason(), "the value is complete");
    // The largest 64-bit varint still reads.
    let max = raw(&[0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_eq!(items(&max), [Item::Int(i64::MIN)]);
}

#[test]
fn truncated_and_corrupted_encodings_never_panic_and_whatever_decodes_re_encodes_exactly() {
    let mut rng = XorShift::new(7);
    let mut decoded_ok = 0;
    for _ in 0..300 {
        let graph = generate(&mut rng, Shape::default());
        let s = encode(&graph).unwrap();
        let bytes = s.bytes();
        let attachments = || {
            s.attachments()
                .iter()
                .map(|p| structured_model::attachment(structured_model::attachment_number(p).unwrap()))
                .collect::<Vec<_>>()
        };
        for cut in 0..bytes.len().min(40) {
            let cut = bytes.len() - 1 - cut;
            assert!(decode(&Structured::from_parts(bytes[..cut].into(), attachments().into())).is_err());
        }
        for _ in 0..20 {
            let mut corrupt = bytes.to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(corrupt.len() as u64) as usize;
                corrupt[at] = rng.next_u64() as u8;
            }
            let c = Structured::from_parts(corrupt.into(), attachments().into());
            if let Ok((graph, read)) = decode_prefix(&c) {
                decoded_ok += 1;
                let again = encode(&graph).unwrap();
                assert_eq!(again.bytes(), &c.bytes()[..read], "every encoding is canonical");
            }
        }
    }
    assert!(decoded_ok > 100, "the corruptions exercise successful decodes too ({decoded_ok})");
}

// ---- random values ------------------------------------------------------------------------------

/// What a value's items exercise: references to containers (those still open: cycles), to kept
/// strings, attachments, the deepest nesting.
#[derive(Debug, Default)]
struct Exercised {
    memo_refs: usize,
    cycles: usize,
    str_refs: usize,
    attachments: usize,
    deepest: usize,
}

fn exercise(structured: &Structured, totals: &mut Exercised) {
    let mut decoder = structured.decoder();
    let mut open: Vec<(usize, Option<MemoId>)> = Vec::new();
    loop {
        let item = decoder.next().unwrap();
        if let Some(top) = open.last_mut() {
            top.0 -= 1;
        }
        match item {
            Item::MemoRef(id) => {
                totals.memo_refs += 1;
                totals.cycles += open.iter().any(|(_, open_id)| *open_id == Some(id)) as usize;
            }
            Item::StrRef(_) => totals.str_refs += 1,
            Item::Attachment(_) => totals.attachments += 1,
            Item::Tuple(len, id) | Item::List(len, id) | Item::Set(len, id) | Item::FrozenSet(len, id) => {
                open.push((len, Some(id)))
            }
            Item::Dict(len, id) => open.push((2 * len, Some(id))),
            _ => {}
        }
        totals.deepest = totals.deepest.max(open.len());
        while open.last().is_some_and(|top| top.0 == 0) {
            open.pop();
        }
        if open.is_empty() {
            break;
        }
    }
    assert!(decoder.is_complete());
}

#[test]
fn random_values_round_trip() {
    let seed = std::env::var("STRUCTURED_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_260_801u64);
    let mut rng = XorShift::new(seed);
    let (mut nodes, mut bytes) = (0, 0);
    let mut exercised = Exercised::default();
    for case in 0..3000 {
        let shape = if case % 10 == 0 { Shape { max_items: 3000, max_depth: 40 } } else { Shape::default() };
        let graph = generate(&mut rng, shape);
        nodes += graph.nodes.len();
        let structured = round_trip(&graph);
        bytes += structured.byte_len();
        exercise(&structured, &mut exercised);
    }
    println!("seed {seed}: {nodes} nodes, {bytes} bytes, {exercised:?}");
    assert!(nodes > 10_000 && bytes > 1_000_000, "non-trivial values ({nodes} nodes, {bytes} bytes)");
    let Exercised { memo_refs, cycles, str_refs, attachments, deepest } = exercised;
    assert!(memo_refs > 1000 && cycles > 100 && str_refs > 1000 && attachments > 1000, "{exercised:?}");
    assert_eq!(deepest, Payload::MAX_DEPTH);
}

// ---- speed (not a test: `cargo test --release -p subinterpreters-core --test structured -- --ignored --nocapture`)

/// 20,000 records like `{"id": i, "name": f"user{i}", "score": 0.5, "tags": ["a", "b"]}`, keys
/// and short strings kept, as the binding would walk them: encode, decode (items only), and decode
/// building the model.
#[test]
#[ignore]
fn speed_of_records() {
    use std::hint::black_box;
    use std::time::Instant;
    const N: usize = 20_000;
    let names: Vec<String> = (0..N).map(|i| format!("user{i}")).collect();
    let encode_records = || {
        let mut e = Encoder::with_capacity(N * 32);
        e.list(N).unwrap();
        let mut keys: Option<[StrId; 6]> = None;
        for (i, name) in names.iter().enumerate() {
            e.dict(4).unwrap();
            match keys {
                None => {
                    let id = e.str_kept(b"id");
                    e.int(i as i64);
                    let name_key = e.str_kept(b"name");
                    e.str(name.as_bytes());
                    let score = e.str_kept(b"score");
                    e.float(0.5);
                    let tags = e.str_kept(b"tags");
                    e.list(2).unwrap();
                    let a = e.str_kept(b"a");
                    let b = e.str_kept(b"b");
                    keys = Some([id, name_key, score, tags, a, b]);
                }
                Some([id, name_key, score, tags, a, b]) => {
                    e.str_ref(id);
                    e.int(i as i64);
                    e.str_ref(name_key);
                    e.str(name.as_bytes());
                    e.str_ref(score);
                    e.float(0.5);
                    e.str_ref(tags);
                    e.list(2).unwrap();
                    e.str_ref(a);
                    e.str_ref(b);
                }
            }
            e.end();
            e.end();
        }
        e.end();
        e.finish()
    };
    let s = encode_records();
    let graph = decode(&s).unwrap();
    // STRUCTURED_BENCH=encode|decode: only that, many times (for `perf stat`).
    if let Ok(phase) = std::env::var("STRUCTURED_BENCH") {
        let runs = std::env::var("STRUCTURED_BENCH_RUNS").map_or(100, |n| n.parse().unwrap());
        for _ in 0..runs {
            match phase.as_str() {
                "encode" => drop(black_box(encode_records())),
                _ => {
                    let mut d = s.decoder();
                    while !d.is_complete() {
                        black_box(d.next().unwrap());
                    }
                }
            }
        }
        return;
    }
    let runs = 15;
    let median = |f: &mut dyn FnMut()| {
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e9 / N as f64
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[runs / 2]
    };
    let encode_ns = median(&mut || drop(black_box(encode_records())));
    let decode_ns = median(&mut || {
        let mut d = s.decoder();
        while !d.is_complete() {
            black_box(d.next().unwrap());
        }
    });
    let model_ns = median(&mut || drop(black_box(decode(&s).unwrap())));
    let model_encode_ns = median(&mut || drop(black_box(encode(&graph).unwrap())));
    println!(
        "{N} records, {} bytes ({:.1} per record): encode {encode_ns:.1} ns/record, decode (items) {decode_ns:.1} ns/record; \
         model walks (allocating Rust values): encode {model_encode_ns:.1}, decode {model_ns:.1} ns/record",
        s.byte_len(),
        s.byte_len() as f64 / N as f64
    );
}
