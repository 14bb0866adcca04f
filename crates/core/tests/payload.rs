//! `Payload` equality: what the binding relies on for `==` of received values and of ends.
#![cfg(not(loom))]

use subinterpreters_core::{channel, ChannelRegistry, Payload};

#[test]
fn scalars_compare_by_value_and_type() {
    assert_eq!(Payload::None, Payload::None);
    assert_eq!(Payload::Bool(true), Payload::Bool(true));
    assert_ne!(Payload::Bool(true), Payload::Int(1), "bool and int are different types");
    assert_eq!(Payload::Int(-3), Payload::Int(-3));
    assert_ne!(Payload::Int(1), Payload::Float(1.0));
    assert_eq!(Payload::BigInt("-0x1f".into()), Payload::BigInt("-0x1f".into()));
    assert_ne!(Payload::Str(b"ab".to_vec().into()), Payload::Bytes(b"ab".to_vec().into()));
    assert_eq!(Payload::Str(b"ab".to_vec().into()), Payload::Str(b"ab".to_vec().into()));
    assert_eq!(Payload::Interpreter(4), Payload::Interpreter(4));
    assert_ne!(Payload::Interpreter(4), Payload::Interpreter(5));
}

#[test]
fn floats_compare_bitwise_so_they_round_trip_exactly() {
    assert_eq!(Payload::Float(f64::NAN), Payload::Float(f64::NAN));
    assert_ne!(Payload::Float(0.0), Payload::Float(-0.0));
    assert_eq!(Payload::Float(1.5), Payload::Float(1.5));
}

#[test]
fn tuples_compare_element_wise() {
    let make = |last: i64| Payload::Tuple(Box::new([Payload::None, Payload::Tuple(Box::new([Payload::Int(last)]))]));
    assert_eq!(make(1), make(1));
    assert_ne!(make(1), make(2));
    assert_ne!(Payload::Tuple(Box::new([])), Payload::Tuple(Box::new([Payload::None])));
}

#[test]
fn ends_compare_by_channel() {
    let registry = ChannelRegistry::<Payload>::new();
    let (tx, rx) = registry.create();
    let (other_tx, _other_rx) = channel::<Payload>();
    assert_eq!(Payload::SendEnd(tx.clone()), Payload::SendEnd(tx.clone()));
    assert_eq!(Payload::RecvEnd(rx.clone()), Payload::RecvEnd(rx.clone()));
    assert_ne!(Payload::SendEnd(tx.clone()), Payload::SendEnd(other_tx));
    assert_ne!(Payload::SendEnd(tx), Payload::RecvEnd(rx), "the two ends differ");
}
