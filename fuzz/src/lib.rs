//! Fuzz harness of the core: decodes a byte string into a sequence of operations on two queues
//! and a channel (puts, gets, their parked forms with poll / cancel / cancel-and-requeue / drop,
//! batch calls, put-backs, closes, and selects over two endpoints), runs each on the core and on
//! the reference model ([`model`]), and panics at the first difference:
//!
//! - every item a call returns is the one the model predicts (FIFO order, nothing lost, nothing
//!   twice, the right error with the right item back);
//! - queue sizes, fullness and closed flags agree after every step, and so do the completion
//!   flag and the notify count of each parked operation (notified once, exactly when completed);
//! - at the end (everything cancelled, drained and dropped) every item ever made was either
//!   handed to the caller or dropped by the core, exactly once, and the items the core dropped
//!   are the ones the model says it must (a closed receive end's buffer, a losing select case).
//!
//! Single-threaded: parked operations stay parked across later operations, which complete them
//! as a peer would. (Interleavings of threads are loom's job: `crates/core/tests/loom.rs`.)
//!
//! Entry point: [`run`]. The stable driver (`src/bin/driver.rs`) and the libFuzzer target
//! (`fuzz_targets/core_ops.rs`) both call it.

pub mod model;
pub mod structured;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use model::{End, Kind, Model, Offered, OpId, Sel, Status, Taken, A, B, C};
use subinterpreters_core::{
    channel, queue, start_select, PendingRecv, PendingSelect, PendingSend, QueueHandle, Receiver, RecvError, RecvStart,
    SelectStart, Selected, SendError, SendStart, Sender, TryRecvError,
};

// ---- items ----------------------------------------------------------------------------------------

thread_local! {
    /// Ids of the items dropped (by the core, or left over at the end) during this run.
    static DROPPED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// An item: a unique id. Dropping it is recorded; the harness *takes* the items the core hands
/// back (recording them as received instead), so the drop log holds exactly what the core dropped.
#[derive(Debug)]
pub struct Tok(u32);

impl Tok {
    fn take(self) -> u32 {
        let id = self.0;
        std::mem::forget(self);
        id
    }
}

impl Drop for Tok {
    fn drop(&mut self) {
        let id = self.0;
        DROPPED.with(|dropped| dropped.borrow_mut().push(id));
    }
}

// ---- operations -----------------------------------------------------------------------------------

/// Bytes per operation.
pub const OP_BYTES: usize = 4;
/// Parked operations kept at once.
const SLOTS: usize = 4;

/// One step. `end` is A, B (queues) or C (the channel).
#[derive(Debug, Clone)]
pub enum Op {
    /// Queue: `put_nowait`; channel: `send_nowait`.
    PutNowait(End),
    /// Queue: `put(item, now)`; channel: `try_send`.
    PutTimeout0(End),
    /// Queue: `start_put[_notified]`; channel: `start_send[_notified]`. Parks into `slot`.
    StartPut { end: End, notified: bool, slot: usize },
    /// `try_get` / `try_recv`.
    TryGet(End),
    /// `get(now)` / `recv(now)`: parks and withdraws at once if nothing is ready.
    GetTimeout0(End),
    /// `start_get[_notified]` / `start_recv[_notified]`. Parks into `slot`.
    StartGet { end: End, notified: bool, slot: usize },
    /// Queue: `put_many_nowait` of `n` items.
    PutMany { end: End, n: usize },
    /// Queue: `get_many_nowait(max)`.
    GetMany { end: End, max: usize },
    /// `try_get` then `put_back` of what it got.
    GetPutBack(End),
    /// Queue: `get_many_nowait(max)` then `put_back_many` of what it got.
    GetManyPutBack { end: End, max: usize },
    /// `poll` of the parked operation in `slot`.
    Poll(usize),
    /// `cancel` (a timeout).
    Cancel(usize),
    /// `cancel_and_requeue` (an exception); a parked send is cancelled.
    CancelRequeue(usize),
    /// Dropping the parked operation.
    Drop(usize),
    /// Queue: `close`; channel: `Sender::close`.
    Close(End),
    /// Channel: `Receiver::close`.
    CloseRecv,
    /// `start_select` over two cases (`put`: send/put an item, else receive/get) tried in
    /// order (`swap`: second case first); parks into `slot` if `wait` and nothing is ready.
    Select { cases: [(End, bool); 2], swap: bool, wait: bool, slot: usize },
}

/// The capacities of queues A and B (0: unbounded) and the operations `data` encodes.
pub fn decode(data: &[u8]) -> (usize, usize, Vec<Op>) {
    let (head, body) = data.split_at(data.len().min(2));
    let cap_a = head.first().map_or(1, |b| (*b % 4) as usize);
    let cap_b = head.get(1).map_or(2, |b| (*b % 4) as usize);
    let ops = body
        .chunks_exact(OP_BYTES)
        .map(|chunk| {
            let [code, x, y, z] = [chunk[0], chunk[1], chunk[2], chunk[3]];
            let end = (x % 3) as usize;
            let queue_end = (x % 2) as usize;
            let slot = (y as usize) % SLOTS;
            let notified = z & 1 == 1;
            match code % 20 {
                0 | 1 => Op::PutNowait(end),
                2 => Op::PutTimeout0(end),
                3 | 4 => Op::StartPut { end, notified, slot },
                5 | 6 => Op::TryGet(end),
                7 => Op::GetTimeout0(end),
                8 | 9 => Op::StartGet { end, notified, slot },
                10 => Op::PutMany { end: queue_end, n: (y % 5) as usize },
                11 => Op::GetMany { end: queue_end, max: (y % 4) as usize },
                12 => {
                    if z & 2 == 0 {
                        Op::GetPutBack(end)
                    } else {
                        Op::GetManyPutBack { end: queue_end, max: (y % 4) as usize }
                    }
                }
                13 => Op::Poll(slot),
                14 => Op::Cancel(slot),
                15 => Op::CancelRequeue(slot),
                16 => Op::Drop(slot),
                17 => {
                    if z % 4 == 0 && end == C {
                        Op::CloseRecv
                    } else {
                        Op::Close(end)
                    }
                }
                _ => Op::Select {
                    cases: [(end, z & 2 != 0), (((y / 4) % 3) as usize, z & 4 != 0)],
                    swap: z & 8 != 0,
                    wait: z & 16 == 0,
                    slot,
                },
            }
        })
        .collect();
    (cap_a, cap_b, ops)
}

// ---- the harness ------------------------------------------------------------------------------------

enum Parked {
    Recv(PendingRecv<Tok>, End),
    Send(PendingSend<Tok>, End),
    Select(PendingSelect<Tok>),
}

struct Slot {
    parked: Parked,
    op: OpId,
    notified: Option<Arc<AtomicUsize>>,
}

struct Harness {
    a: QueueHandle<Tok>,
    b: QueueHandle<Tok>,
    tx: Sender<Tok>,
    rx: Receiver<Tok>,
    model: Model,
    slots: Vec<Option<Slot>>,
    next_item: u32,
    /// Items the core handed to the caller (each once).
    received: Vec<u32>,
    /// Items the caller got back from failed sends.
    returned: Vec<u32>,
    /// Ops so far, for the failure message.
    step: usize,
}

fn recv_str(err: RecvError) -> &'static str {
    match err {
        RecvError::Closed => "closed",
        RecvError::Withdrawn => "withdrawn",
    }
}

fn try_str(err: TryRecvError) -> Taken {
    match err {
        TryRecvError::Empty => Taken::NotNow,
        TryRecvError::Closed => Taken::Closed,
    }
}

fn send_err(err: SendError<Tok>) -> (&'static str, Tok) {
    match err {
        SendError::Closed(item) => ("closed", item),
        SendError::Withdrawn(item) => ("withdrawn", item),
    }
}

impl Harness {
    fn new(cap_a: usize, cap_b: usize) -> Self {
        let (tx, rx) = channel();
        let cap = |c: usize| (c > 0).then_some(c);
        Harness {
            a: queue(cap_a),
            b: queue(cap_b),
            tx,
            rx,
            model: Model::new(cap(cap_a), cap(cap_b)),
            slots: (0..SLOTS).map(|_| None).collect(),
            next_item: 1,
            received: Vec::new(),
            returned: Vec::new(),
            step: 0,
        }
    }

    fn queue(&self, end: End) -> &QueueHandle<Tok> {
        match end {
            A => &self.a,
            B => &self.b,
            _ => unreachable!("not a queue"),
        }
    }

    fn item(&mut self) -> (Tok, u32) {
        let id = self.next_item;
        self.next_item += 1;
        (Tok(id), id)
    }

    fn got(&mut self, tok: Tok) -> u32 {
        let id = tok.take();
        self.received.push(id);
        id
    }

    fn back(&mut self, tok: Tok) -> u32 {
        let id = tok.take();
        self.returned.push(id);
        id
    }

    // ---- single operations -----------------------------------------------------------------------

    fn put_nowait(&mut self, end: End, timeout0: bool) {
        let (tok, id) = self.item();
        // (queue, nowait) put_nowait; (queue, timeout 0) put(now), which parks and withdraws at
        // once when full (the model's NotNow); (channel, nowait) send_nowait; (channel, timeout
        // 0) try_send.
        let (core, kind) = match (end, timeout0) {
            (C, false) => (self.tx.send_nowait(tok).map(|_| ()), Kind::Unbounded),
            (C, true) => (self.tx.try_send(tok), Kind::Rendezvous),
            (q, false) => (self.queue(q).put_nowait(tok), Kind::Buffered),
            (q, true) => (self.queue(q).put(tok, Some(Instant::now())), Kind::Buffered),
        };
        let expected = self.model.offer(end, id, kind);
        match (core.map_err(send_err), expected) {
            (Ok(()), Offered::Delivered | Offered::Buffered) => {}
            (Err(("withdrawn", tok)), Offered::NotNow(item)) if tok.0 == item => {
                self.back(tok);
            }
            // A channel's send_nowait reports a closed channel as Closed; so does every call.
            (Err(("closed", tok)), Offered::Closed(item)) if tok.0 == item => {
                self.back(tok);
            }
            (core, model) => panic!("offer of {id} on {end}: core {core:?}, model {model:?}"),
        }
    }

    fn start_put(&mut self, end: End, notified: bool, slot: usize) {
        self.drop_slot(slot);
        let (tok, id) = self.item();
        let counter = Arc::new(AtomicUsize::new(0));
        let notify: subinterpreters_core::Notify = {
            let counter = counter.clone();
            Arc::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            })
        };
        let core = match (end, notified) {
            (C, false) => self.tx.start_send(tok),
            (C, true) => self.tx.start_send_notified(tok, notify),
            (q, false) => self.queue(q).start_put(tok),
            (q, true) => self.queue(q).start_put_notified(tok, notify),
        };
        let kind = if end == C { Kind::Rendezvous } else { Kind::Buffered };
        let expected = self.model.offer(end, id, kind);
        match (core, expected) {
            (Ok(SendStart::Delivered), Offered::Delivered | Offered::Buffered) => {}
            (Ok(SendStart::Pending(pending)), Offered::NotNow(item)) => {
                let op = self.model.park_offer(end, item);
                self.slots[slot] =
                    Some(Slot { parked: Parked::Send(pending, end), op, notified: notified.then_some(counter) });
            }
            (Err(SendError::Closed(tok)), Offered::Closed(item)) if tok.0 == item => {
                self.back(tok);
            }
            (core, model) => panic!(
                "start_put of {id} on {end}: core {}, model {model:?}",
                match core {
                    Ok(SendStart::Delivered) => "Delivered".to_string(),
                    Ok(SendStart::Pending(_)) => "Pending".to_string(),
                    Err(err) => format!("{err:?}"),
                }
            ),
        }
    }

    fn try_get(&mut self, end: End) {
        let core = match end {
            C => self.rx.try_recv(),
            q => self.queue(q).try_get(),
        };
        let expected = self.model.take(end);
        match (core, expected) {
            (Ok(tok), Taken::Item(item)) if tok.0 == item => {
                self.got(tok);
            }
            (Err(err), expected) if try_str(err) == expected => {}
            (core, model) => panic!("try_get on {end}: core {core:?}, model {model:?}"),
        }
    }

    fn get_timeout0(&mut self, end: End) {
        let core = match end {
            C => self.rx.recv(Some(Instant::now())),
            q => self.queue(q).get(Some(Instant::now())),
        };
        // recv(now): a take; if nothing is ready it parks and withdraws at once.
        let expected = self.model.take(end);
        match (core, expected) {
            (Ok(tok), Taken::Item(item)) if tok.0 == item => {
                self.got(tok);
            }
            (Err(RecvError::Withdrawn), Taken::NotNow) | (Err(RecvError::Closed), Taken::Closed) => {}
            (core, model) => panic!("get(now) on {end}: core {core:?}, model {model:?}"),
        }
    }

    fn start_get(&mut self, end: End, notified: bool, slot: usize) {
        self.drop_slot(slot);
        let counter = Arc::new(AtomicUsize::new(0));
        let notify: subinterpreters_core::Notify = {
            let counter = counter.clone();
            Arc::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            })
        };
        let core = match (end, notified) {
            (C, false) => self.rx.start_recv(),
            (C, true) => self.rx.start_recv_notified(notify),
            (q, false) => self.queue(q).start_get(),
            (q, true) => self.queue(q).start_get_notified(notify),
        };
        let expected = self.model.take(end);
        match (core, expected) {
            (Ok(RecvStart::Ready(tok)), Taken::Item(item)) if tok.0 == item => {
                self.got(tok);
            }
            (Ok(RecvStart::Pending(pending)), Taken::NotNow) => {
                let op = self.model.park_take(end);
                self.slots[slot] =
                    Some(Slot { parked: Parked::Recv(pending, end), op, notified: notified.then_some(counter) });
            }
            (Err(RecvError::Closed), Taken::Closed) => {}
            (core, model) => panic!(
                "start_get on {end}: core {}, model {model:?}",
                match core {
                    Ok(RecvStart::Ready(tok)) => format!("Ready({})", tok.take()),
                    Ok(RecvStart::Pending(_)) => "Pending".to_string(),
                    Err(err) => format!("{err:?}"),
                }
            ),
        }
    }

    fn put_many(&mut self, end: End, n: usize) {
        let mut toks = VecDeque::new();
        let mut ids = VecDeque::new();
        for _ in 0..n {
            let (tok, id) = self.item();
            toks.push_back(tok);
            ids.push_back(id);
        }
        let core = self.queue(end).put_many_nowait(&mut toks);
        let expected = self.model.offer_many(end, &mut ids);
        match (core, expected) {
            (Ok(placed), Ok(expected)) if placed == expected => {}
            (Err(SendError::Closed(())), Err(())) => {}
            (core, model) => panic!("put_many of {n} on {end}: core {core:?}, model {model:?}"),
        }
        let left: Vec<u32> = toks.into_iter().map(|tok| self.back(tok)).collect();
        assert_eq!(left, Vec::from(ids), "put_many on {end}: the items left with the caller");
    }

    fn get_many(&mut self, end: End, max: usize, put_back: bool) {
        let core = self.queue(end).get_many_nowait(max);
        let expected = self.model.take_many(end, max);
        match (core, expected) {
            (Ok(toks), Ok(items)) => {
                let ids: Vec<u32> = toks.iter().map(|tok| tok.0).collect();
                assert_eq!(ids, items, "get_many({max}) on {end}");
                if put_back && !toks.is_empty() {
                    self.queue(end).put_back_many(toks);
                    self.model.requeue_front(end, items);
                } else {
                    for tok in toks {
                        self.got(tok);
                    }
                }
            }
            (Err(err), Err(expected)) if try_str(err) == expected => {}
            (core, model) => panic!("get_many({max}) on {end}: core {core:?}, model {model:?}"),
        }
    }

    fn get_put_back(&mut self, end: End) {
        let core = match end {
            C => self.rx.try_recv(),
            q => self.queue(q).try_get(),
        };
        let expected = self.model.take(end);
        match (core, expected) {
            (Ok(tok), Taken::Item(item)) if tok.0 == item => {
                match end {
                    C => self.rx.put_back(tok),
                    q => self.queue(q).put_back(tok),
                }
                self.model.requeue(end, 0, item);
            }
            (Err(err), expected) if try_str(err) == expected => {}
            (core, model) => panic!("try_get (to put back) on {end}: core {core:?}, model {model:?}"),
        }
    }

    fn close(&mut self, end: End) {
        match end {
            C => self.tx.close(),
            q => self.queue(q).close(),
        }
        self.model.close_offers(end);
    }

    fn close_recv(&mut self) {
        self.rx.close();
        self.model.close_takes(C);
    }

    // ---- select -----------------------------------------------------------------------------------

    fn select(&mut self, cases: [(End, bool); 2], swap: bool, wait: bool, slot: usize) {
        self.drop_slot(slot);
        let mut toks: Vec<Option<(Tok, u32)>> = cases.iter().map(|&(_, put)| put.then(|| self.item())).collect();
        let mut core_cases = Vec::new();
        let mut model_cases = Vec::new();
        for (index, (end, _)) in cases.into_iter().enumerate() {
            if let Some((tok, id)) = toks[index].take() {
                core_cases.push(match end {
                    C => self.tx.send_case(tok),
                    A => self.a.put_case(tok),
                    _ => self.b.put_case(tok),
                });
                model_cases.push((end, Some(id)));
            } else {
                core_cases.push(match end {
                    C => self.rx.recv_case(),
                    A => self.a.get_case(),
                    _ => self.b.get_case(),
                });
                model_cases.push((end, None));
            }
        }
        let order: &[usize] = if swap { &[1, 0] } else { &[0, 1] };
        let core = start_select(core_cases, order, wait);
        let expected = self.model.select(model_cases, order, wait);
        match (core, expected) {
            (SelectStart::Ready(selected), model::SelectStart::Ready(expected)) => {
                self.check_selected(selected, expected, "select");
            }
            (SelectStart::NotReady, model::SelectStart::NotReady) => {}
            (SelectStart::Pending(pending), model::SelectStart::Pending(op)) => {
                self.slots[slot] = Some(Slot { parked: Parked::Select(pending), op, notified: None });
            }
            (core, _) => panic!(
                "select {cases:?} (swap {swap}, wait {wait}): core {}, model differs",
                match core {
                    SelectStart::Ready(selected) => format!("{selected:?}"),
                    SelectStart::NotReady => "NotReady".into(),
                    SelectStart::Pending(_) => "Pending".into(),
                }
            ),
        }
    }

    fn check_selected(&mut self, selected: Selected<Tok>, expected: Sel, what: &str) {
        match (selected, expected) {
            (Selected::Received(case, tok), Sel::Received(ecase, item)) if case == ecase && tok.0 == item => {
                self.got(tok);
            }
            (Selected::Drained(case), Sel::Drained(ecase)) if case == ecase => {}
            (Selected::Sent(case), Sel::Sent(ecase)) if case == ecase => {}
            (Selected::SendClosed(case, tok), Sel::SendClosed(ecase, item)) if case == ecase && tok.0 == item => {
                self.back(tok);
            }
            (core, model) => panic!("{what}: core {core:?}, model {model:?}"),
        }
    }

    // ---- parked operations ------------------------------------------------------------------------

    fn poll(&mut self, slot: usize) {
        let Some(mut parked) = self.slots[slot].take() else { return };
        let op = parked.op;
        let done = match &mut parked.parked {
            Parked::Recv(pending, end) => {
                let end = *end;
                let core = pending.poll();
                let expected = self.model.collect_recv(op);
                match (core, expected) {
                    (None, None) => false,
                    (Some(Ok(tok)), Some(Ok(item))) if tok.0 == item => {
                        self.got(tok);
                        true
                    }
                    (Some(Err(err)), Some(Err(expected))) if recv_str(err) == expected => true,
                    (core, model) => panic!("poll of a get on {end}: core {core:?}, model {model:?}"),
                }
            }
            Parked::Send(pending, end) => {
                let end = *end;
                let core = pending.poll();
                let expected = self.model.collect_send(op);
                self.check_send(core, expected, end, "poll")
            }
            Parked::Select(pending) => {
                let core = pending.wait_until(Some(Instant::now()));
                let expected = self.model.poll_select(op);
                match (core, expected) {
                    (None, None) => false,
                    (Some(selected), Some(expected)) => {
                        self.check_selected(selected, expected, "poll of a select");
                        true
                    }
                    (core, model) => panic!("poll of a select: core {core:?}, model {model:?}"),
                }
            }
        };
        if !done {
            self.slots[slot] = Some(parked);
        }
    }

    /// Compares a send's outcome; true if it had one.
    fn check_send(
        &mut self,
        core: Option<Result<(), SendError<Tok>>>,
        expected: Option<Result<(), (&'static str, u32)>>,
        end: End,
        what: &str,
    ) -> bool {
        match (core.map(|r| r.map_err(send_err)), expected) {
            (None, None) => false,
            (Some(Ok(())), Some(Ok(()))) => true,
            (Some(Err((kind, tok))), Some(Err((ekind, item)))) if kind == ekind && tok.0 == item => {
                self.back(tok);
                true
            }
            (core, model) => panic!("{what} of a put on {end}: core {core:?}, model {model:?}"),
        }
    }

    fn cancel(&mut self, slot: usize) {
        let Some(parked) = self.slots[slot].take() else { return };
        let op = parked.op;
        match parked.parked {
            Parked::Recv(pending, end) => {
                let core = pending.cancel();
                let expected = self.model.cancel_recv(op);
                match (core, expected) {
                    (Ok(tok), Ok(item)) if tok.0 == item => {
                        self.got(tok);
                    }
                    (Err(err), Err(expected)) if recv_str(err) == expected => {}
                    (core, model) => panic!("cancel of a get on {end}: core {core:?}, model {model:?}"),
                }
            }
            Parked::Send(pending, end) => {
                let core = pending.cancel();
                let expected = self.model.cancel_send(op);
                self.check_send(Some(core), Some(expected), end, "cancel");
            }
            Parked::Select(pending) => {
                let core = pending.cancel();
                let expected = self.model.cancel_select(op);
                match (core, expected) {
                    (None, None) => {}
                    (Some(selected), Some(expected)) => self.check_selected(selected, expected, "cancel of a select"),
                    (core, model) => panic!("cancel of a select: core {core:?}, model {model:?}"),
                }
            }
        }
    }

    fn cancel_requeue(&mut self, slot: usize) {
        let Some(parked) = self.slots[slot].take() else { return };
        let op = parked.op;
        match parked.parked {
            Parked::Recv(pending, _) => {
                pending.cancel_and_requeue();
                self.model.requeue_recv(op);
            }
            Parked::Send(pending, end) => {
                let core = pending.cancel();
                let expected = self.model.cancel_send(op);
                self.check_send(Some(core), Some(expected), end, "cancel");
            }
            Parked::Select(pending) => {
                pending.cancel_and_requeue();
                self.model.requeue_select(op);
            }
        }
    }

    fn drop_slot(&mut self, slot: usize) {
        let Some(parked) = self.slots[slot].take() else { return };
        let op = parked.op;
        match parked.parked {
            Parked::Recv(pending, _) => {
                drop(pending);
                self.model.requeue_recv(op);
            }
            Parked::Send(pending, _) => {
                drop(pending);
                self.model.drop_send(op);
            }
            Parked::Select(pending) => {
                drop(pending);
                self.model.requeue_select(op);
            }
        }
    }

    // ---- checks -----------------------------------------------------------------------------------

    /// State both sides can be asked about at any time.
    fn check_state(&self, op: &Op) {
        for end in [A, B] {
            let q = self.queue(end);
            let ctx = || format!("after step {} ({op:?}), queue {end}", self.step);
            assert_eq!(q.qsize(), self.model.buffered(end), "qsize {}", ctx());
            assert_eq!(q.is_full(), self.model.is_full(end), "is_full {}", ctx());
            assert_eq!(q.is_closed(), self.model.offers_closed(end), "is_closed {}", ctx());
        }
        assert_eq!(self.tx.is_closed(), self.model.offers_closed(C), "channel send closed after step {}", self.step);
        assert_eq!(self.rx.is_closed(), self.model.drained(C), "channel drained after step {} ({op:?})", self.step);
        for slot in self.slots.iter().flatten() {
            let status = self.model.status(slot.op);
            let completed = !matches!(status, Status::Waiting);
            let core_completed = match &slot.parked {
                Parked::Recv(pending, _) => Some(pending.is_complete()),
                Parked::Send(pending, _) => Some(pending.is_complete()),
                Parked::Select(_) => None,
            };
            if let Some(core_completed) = core_completed {
                assert_eq!(
                    core_completed, completed,
                    "is_complete of op {} after step {} ({op:?})",
                    slot.op, self.step
                );
            }
            if let Some(counter) = &slot.notified {
                let expected = usize::from(self.model.ops[slot.op].completed_by_peer);
                assert_eq!(
                    counter.load(Ordering::SeqCst),
                    expected,
                    "notify count of op {} after step {}",
                    slot.op,
                    self.step
                );
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::PutNowait(end) => self.put_nowait(end, false),
            Op::PutTimeout0(end) => self.put_nowait(end, true),
            Op::StartPut { end, notified, slot } => self.start_put(end, notified, slot),
            Op::TryGet(end) => self.try_get(end),
            Op::GetTimeout0(end) => self.get_timeout0(end),
            Op::StartGet { end, notified, slot } => self.start_get(end, notified, slot),
            Op::PutMany { end, n } => self.put_many(end, n),
            Op::GetMany { end, max } => self.get_many(end, max, false),
            Op::GetPutBack(end) => self.get_put_back(end),
            Op::GetManyPutBack { end, max } => self.get_many(end, max, true),
            Op::Poll(slot) => self.poll(slot),
            Op::Cancel(slot) => self.cancel(slot),
            Op::CancelRequeue(slot) => self.cancel_requeue(slot),
            Op::Drop(slot) => self.drop_slot(slot),
            Op::Close(end) => self.close(end),
            Op::CloseRecv => self.close_recv(),
            Op::Select { cases, swap, wait, slot } => self.select(cases, swap, wait, slot),
        }
    }

    /// Cancels what is parked, drains every endpoint, drops the handles, and checks that every
    /// item went exactly where the model says.
    fn finish(mut self) {
        for slot in 0..SLOTS {
            self.drop_slot(slot);
        }
        self.check_state(&Op::Drop(SLOTS));
        for end in [A, B, C] {
            loop {
                let before = self.received.len();
                self.try_get(end);
                if self.received.len() == before {
                    break;
                }
            }
        }
        let Harness { a, b, tx, rx, mut model, next_item, received, returned, .. } = self;
        drop((a, b, tx, rx));
        for end in [A, B] {
            model.close_offers(end);
            model.close_takes(end);
        }
        model.close_offers(C);
        model.close_takes(C);
        let mut dropped = DROPPED.with(|dropped| std::mem::take(&mut *dropped.borrow_mut()));
        dropped.sort_unstable();
        let mut expected_drops = model.expected_drops.clone();
        expected_drops.sort_unstable();
        assert_eq!(dropped, expected_drops, "the items the core dropped (left: core, right: model)");
        let mut all: Vec<u32> = received.iter().chain(&returned).chain(&dropped).copied().collect();
        all.sort_unstable();
        let made: Vec<u32> = (1..next_item).collect();
        assert_eq!(all, made, "every item exactly once: received, given back, or dropped");
    }
}

/// Runs the operations `data` encodes on the core and on the model; panics at the first
/// difference (see the module documentation).
pub fn run(data: &[u8]) {
    let (cap_a, cap_b, ops) = decode(data);
    run_ops(cap_a, cap_b, &ops);
}

/// As [`run`], on decoded operations.
pub fn run_ops(cap_a: usize, cap_b: usize, ops: &[Op]) {
    DROPPED.with(|dropped| dropped.borrow_mut().clear());
    let mut harness = Harness::new(cap_a, cap_b);
    for op in ops {
        harness.apply(op);
        harness.check_state(op);
        harness.step += 1;
    }
    harness.finish();
}
