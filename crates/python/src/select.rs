//! `select()` for Python: Go's select over channel ends and queues, and the `CLOSED` sentinel a
//! receive case yields from a closed, drained channel or queue.

use subinterpreters_core::{random_order, start_select, Case, Payload, PendingSelect, SelectStart, Selected};

use crate::blocking::{block_on, Parked};
use crate::convert::{deliver, payload_for};
use crate::errors::Error;
use crate::exit_watch::Call;
use crate::ffi::{
    builtin, int_from_u64, none, raise, tuple, Args, Builtin, ObjKind, Owned, Param, ParamKind, PyResult, Ref,
    Signature, This, TypeDef,
};
use crate::state::{state_of_module, State};
use crate::timeout::{parse_timeout, Timeout};
use crate::values::{ClosedSentinel, Sink, Source};

pub(crate) static CLOSED_TYPE: TypeDef<ClosedSentinel> = TypeDef::new(
    c"subinterpreters._ClosedType",
    c"The type of si.CLOSED, what select() yields for a receive case whose channel or queue is\n\
closed and drained.",
    &[],
    &[],
    &[crate::ffi::py_slot!(repr: closed_repr)],
);

fn closed_repr(_: This<'_, ClosedSentinel>) -> String {
    "subinterpreters.CLOSED".to_owned()
}

impl Parked for PendingSelect<Payload> {
    type Output = Option<Selected<Payload>>;
    fn wait_until(&mut self, deadline: Option<std::time::Instant>) -> Option<Self::Output> {
        PendingSelect::wait_until(self, deadline).map(Some)
    }
    fn cancel(self) -> Self::Output {
        PendingSelect::cancel(self)
    }
    fn abandon(self) {
        self.cancel_and_requeue();
    }
}

/// What one case works on (what it sends, if anything, travels separately as a payload).
#[derive(Clone, Copy)]
enum Target<'a> {
    Take(&'a dyn Source),
    Offer(&'a dyn Sink),
}

static SELECT_SIGNATURE: Signature<3> = Signature {
    function: "select",
    params: [
        Param { name: c"cases", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"timeout", kind: ParamKind::KeywordOnly, required: false },
        Param { name: c"default", kind: ParamKind::KeywordOnly, required: false },
    ],
    var_keyword: false,
};

pub(crate) fn select(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    let [cases, timeout, default] = args.parse(&SELECT_SIGNATURE)?;
    let state = state_of_module(module)?;
    let timeout = parse_timeout(timeout)?;
    // As for recv_nowait: the text signature shows a missing default as `...`.
    let default = default.filter(|default| !default.is_ellipsis());
    let case_objects = sequence_items(cases.expect("required"))?;
    // Everything is checked and converted before anything is tried: a bad case changes nothing.
    let mut targets = Vec::with_capacity(case_objects.len());
    let mut payloads = Vec::with_capacity(case_objects.len());
    for (index, obj) in case_objects.iter().enumerate() {
        let (target, payload) = parse_case(state, index, obj.as_ref())?;
        targets.push(target);
        payloads.push(payload);
    }
    if targets.is_empty() && default.is_none() {
        return Err(raise(builtin(Builtin::ValueError), "select() needs at least one case (or a default)"));
    }
    let cases: Vec<Case<'_, Payload>> = targets
        .iter()
        .zip(payloads)
        .map(|(target, payload)| match (*target, payload) {
            (Target::Take(source), _) => source.take_case(),
            (Target::Offer(sink), Some(payload)) => sink.offer_case(payload),
            (Target::Offer(_), None) => unreachable!("send cases carry a payload"),
        })
        .collect();
    let order = random_order(cases.len());
    let wait = default.is_none() && timeout != Timeout::TryOnce;
    let selected = match start_select(cases, &order, wait) {
        SelectStart::Ready(selected) => selected,
        SelectStart::NotReady => {
            return match default {
                Some(default) => tuple(vec![none(), default.to_owned()]),
                None => Err(state.fail(Error::SelectTimedOut)),
            };
        }
        SelectStart::Pending(pending) => match block_on(pending, timeout.deadline(), Call::Select)? {
            Some(selected) => selected,
            None => return Err(state.fail(Error::SelectTimedOut)),
        },
    };
    outcome(state, &targets, selected)
}

fn outcome(state: &State, targets: &[Target<'_>], selected: Selected<Payload>) -> PyResult<Owned> {
    let (index, value) = match selected {
        Selected::Received(index, payload) => match targets[index] {
            Target::Take(source) => (index, deliver(state, source, payload)?),
            Target::Offer(_) => unreachable!("only a receive case receives"),
        },
        Selected::Drained(index) => (index, state.closed.clone()),
        Selected::Sent(index) => (index, none()),
        Selected::SendClosed(index, _) => {
            return Err(state.fail(match targets[index] {
                Target::Offer(sink) => sink.closed_error(),
                Target::Take(source) => source.closed_error(),
            }));
        }
    };
    tuple(vec![int_from_u64(index as u64)?, value])
}

fn parse_case<'a>(state: &State, index: usize, obj: Ref<'a>) -> PyResult<(Target<'a>, Option<Payload>)> {
    if let Some(recv) = state.recv_type.downcast(obj) {
        return Ok((Target::Take(recv), None));
    }
    if let Some(queue) = state.queue_type.downcast(obj) {
        return Ok((Target::Take(queue), None));
    }
    if obj.kind() == ObjKind::Tuple && obj.tuple_items().len() == 2 {
        let mut items = obj.tuple_items();
        let (target, value) = (items.next().expect("len 2"), items.next().expect("len 2"));
        let sink: Option<&dyn Sink> = match state.send_type.downcast(target) {
            Some(send) => Some(send),
            None => state.queue_type.downcast(target).map(|queue| queue as &dyn Sink),
        };
        if let Some(sink) = sink {
            return Ok((Target::Offer(sink), Some(payload_for(state, sink, value)?)));
        }
    }
    Err(raise(
        builtin(Builtin::TypeError),
        &format!(
            "select() case {index} must be a RecvChannel or Queue (receive), or a (SendChannel or \
             Queue, obj) pair (send), not {}",
            obj.type_qualname()
        ),
    ))
}

/// The items of a list or tuple (or any iterable), as new references.
fn sequence_items(cases: Ref<'_>) -> PyResult<Vec<Owned>> {
    let iterator = cases.iterate()?;
    let mut items = Vec::new();
    while let Some(item) = iterator.as_ref().next_item()? {
        items.push(item);
    }
    Ok(items)
}
