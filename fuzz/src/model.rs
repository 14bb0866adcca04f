//! The reference model: what the core's queues, channel and select must do, written as plainly as
//! possible, single-threaded, with `VecDeque`s.
//!
//! Each endpoint (two queues and a channel) has a *line*: the items a take would get, in order.
//! Every item (and every parked offer) gets a sequence number when it is offered; the line is
//! kept sorted by it, so takes are FIFO in the order items were offered; an item put back in
//! front gets 0, and an item a cancelled receive gives back returns to its own place. A queue's
//! parked puts wait *outside* the line for room, oldest first; a channel's parked (rendezvous)
//! senders stand *in* the line with their items. Parked takes wait oldest first, and an offered
//! item goes to the oldest of them before anything else.
//!
//! A parked operation is a [`ModelOp`] with a status; a select is one op registered on several
//! endpoints, completed by whichever case is served first — its other registrations vanish at
//! once (the core leaves them listed but skips them: the same thing, seen from outside). Send
//! items of cases that lose, of a select that was not ready, of a cancelled select and of the
//! buffer a closed receive end drops are *dropped by the core*: the model lists them in
//! `expected_drops`, which the harness compares with the items the core really dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the runs so far exercised (for the driver's summary): parked operations, peer
/// completions of parked single operations and selects, closes that failed parked operations,
/// items put back at their place.
pub static STATS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];
pub const STAT_NAMES: [&str; 6] = [
    "parked ops",
    "peer completions",
    "parked selects",
    "selects completed by a peer",
    "closed under a parked op",
    "requeued items",
];

fn count(stat: usize) {
    STATS[stat].fetch_add(1, Ordering::Relaxed);
}

/// Which endpoint: queue A, queue B, channel C.
pub type End = usize;
pub const A: End = 0;
pub const B: End = 1;
pub const C: End = 2;

pub type OpId = usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Waiting,
    /// A receive (case) was handed `item`, which had sequence number `seq` on `end`.
    Got {
        case: usize,
        end: End,
        seq: u64,
        item: u32,
    },
    Sent {
        case: usize,
    },
    SendClosed {
        case: usize,
        item: u32,
    },
    Drained {
        case: usize,
    },
    /// The owner gave up before anything happened.
    Aborted,
    /// The owner collected the outcome.
    Collected,
}

#[derive(Debug)]
pub struct ModelOp {
    pub status: Status,
    /// Completed by a peer (so a notify callback, if any, must have run once).
    pub completed_by_peer: bool,
    pub is_select: bool,
    ends: Vec<End>,
}

#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    item: u32,
    /// A parked rendezvous sender (op, case) standing in the line with its item.
    sender: Option<(OpId, usize)>,
}

#[derive(Debug, Clone)]
struct ParkedPut {
    op: OpId,
    case: usize,
    seq: u64,
    item: u32,
}

#[derive(Debug)]
struct Endpoint {
    is_channel: bool,
    cap: Option<usize>,
    line: VecDeque<Entry>,
    puts: VecDeque<ParkedPut>,
    gets: VecDeque<(OpId, usize)>,
    offers_closed: bool,
    takes_closed: bool,
    next_seq: u64,
}

/// How an offer goes (the core's `OfferKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A channel's send: to a parked receiver, or not at all.
    Rendezvous,
    /// A queue's put: into the line if there is room.
    Buffered,
    /// A channel's `send_nowait`: into the line whatever its length.
    Unbounded,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Offered {
    Delivered,
    Buffered,
    NotNow(u32),
    Closed(u32),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    Item(u32),
    NotNow,
    Closed,
}

/// A select's outcome, as `subinterpreters_core::Selected`.
#[derive(Debug, PartialEq, Eq)]
pub enum Sel {
    Received(usize, u32),
    Drained(usize),
    Sent(usize),
    SendClosed(usize, u32),
}

pub enum SelectStart {
    Ready(Sel),
    NotReady,
    Pending(OpId),
}

pub struct Model {
    ends: Vec<Endpoint>,
    pub ops: Vec<ModelOp>,
    pub expected_drops: Vec<u32>,
}

impl Model {
    /// Queues A and B of capacities `cap_a`, `cap_b` (`None`: unbounded) and channel C.
    pub fn new(cap_a: Option<usize>, cap_b: Option<usize>) -> Self {
        let endpoint = |is_channel, cap| Endpoint {
            is_channel,
            cap,
            line: VecDeque::new(),
            puts: VecDeque::new(),
            gets: VecDeque::new(),
            offers_closed: false,
            takes_closed: false,
            next_seq: 1,
        };
        Model {
            ends: vec![endpoint(false, cap_a), endpoint(false, cap_b), endpoint(true, None)],
            ops: Vec::new(),
            expected_drops: Vec::new(),
        }
    }

    // ---- what the harness compares with the core ---------------------------------------------

    /// Items in the line that are not carried by a parked sender (a queue's `qsize`).
    pub fn buffered(&self, end: End) -> usize {
        self.ends[end].line.iter().filter(|entry| entry.sender.is_none()).count()
    }

    pub fn is_full(&self, end: End) -> bool {
        self.ends[end].cap.is_some_and(|cap| self.buffered(end) >= cap)
    }

    /// No offer can succeed any more (`is_closed` of a queue, `is_send_closed` of a channel).
    pub fn offers_closed(&self, end: End) -> bool {
        self.ends[end].offers_closed || self.ends[end].takes_closed
    }

    /// No take can succeed any more (`is_recv_closed` of a channel).
    pub fn drained(&self, end: End) -> bool {
        let e = &self.ends[end];
        e.takes_closed || (e.offers_closed && self.buffered(end) == 0)
    }

    pub fn status(&self, op: OpId) -> &Status {
        &self.ops[op].status
    }

    // ---- the rules -----------------------------------------------------------------------------

    fn new_op(&mut self, is_select: bool) -> OpId {
        count(if is_select { 2 } else { 0 });
        self.ops.push(ModelOp { status: Status::Waiting, completed_by_peer: false, is_select, ends: Vec::new() });
        self.ops.len() - 1
    }

    /// Completes a waiting op (by a peer); its other registrations vanish, and the items of its
    /// other send cases are the core's to drop.
    fn complete(&mut self, op: OpId, status: Status) {
        assert_eq!(self.ops[op].status, Status::Waiting, "model: completing a finished op");
        self.ops[op].status = status;
        self.ops[op].completed_by_peer = true;
        count(1);
        if self.ops[op].is_select {
            count(3);
        }
        if matches!(self.ops[op].status, Status::SendClosed { .. } | Status::Drained { .. }) {
            count(4);
        }
        let items = self.unregister(op);
        assert!(items.is_empty() || self.ops[op].is_select, "model: a single op has one registration");
        self.expected_drops.extend(items);
    }

    /// Removes every registration of `op` and returns the items of its send registrations.
    fn unregister(&mut self, op: OpId) -> Vec<u32> {
        let mut items = Vec::new();
        let ends = std::mem::take(&mut self.ops[op].ends);
        for &end in &ends {
            let e = &mut self.ends[end];
            e.gets.retain(|&(o, _)| o != op);
            e.puts.retain(|put| {
                if put.op == op {
                    items.push(put.item);
                }
                put.op != op
            });
            e.line.retain(|entry| {
                let mine = entry.sender.is_some_and(|(o, _)| o == op);
                if mine {
                    items.push(entry.item);
                }
                !mine
            });
        }
        items
    }

    fn next_seq(&mut self, end: End) -> u64 {
        let seq = self.ends[end].next_seq;
        self.ends[end].next_seq += 1;
        seq
    }

    /// Hands `item` to the oldest parked take of `end`, or gives it back.
    fn deliver(&mut self, end: End, seq: u64, item: u32) -> Result<(), u32> {
        while let Some((op, case)) = self.ends[end].gets.pop_front() {
            if self.ops[op].status == Status::Waiting {
                self.complete(op, Status::Got { case, end, seq, item });
                return Ok(());
            }
        }
        Err(item)
    }

    fn insert_in_line(&mut self, end: End, entry: Entry) {
        let line = &mut self.ends[end].line;
        let position = line.partition_point(|queued| queued.seq < entry.seq);
        line.insert(position, entry);
    }

    /// Lets parked puts into a queue while it has room, oldest first.
    fn admit(&mut self, end: End) {
        while !self.is_full(end) {
            #[cfg(not(feature = "fuzz_bug"))]
            let next = self.ends[end].puts.pop_front();
            // The deliberate bug: newest parked put first.
            #[cfg(feature = "fuzz_bug")]
            let next = self.ends[end].puts.pop_back();
            let Some(put) = next else { break };
            self.complete(put.op, Status::Sent { case: put.case });
            self.insert_in_line(end, Entry { seq: put.seq, item: put.item, sender: None });
        }
    }

    /// Offers `item` without waiting.
    pub fn offer(&mut self, end: End, item: u32, kind: Kind) -> Offered {
        if self.offers_closed(end) {
            return Offered::Closed(item);
        }
        let seq = self.next_seq(end);
        let item = match self.deliver(end, seq, item) {
            Ok(()) => return Offered::Delivered,
            Err(item) => item,
        };
        let room = match kind {
            Kind::Rendezvous => false,
            Kind::Unbounded => true,
            Kind::Buffered => !self.is_full(end),
        };
        if room {
            self.ends[end].line.push_back(Entry { seq, item, sender: None });
            Offered::Buffered
        } else {
            Offered::NotNow(item)
        }
    }

    /// Parks an offer of `op`'s `case` (after `offer` said NotNow).
    fn register_offer(&mut self, end: End, op: OpId, case: usize, item: u32) {
        let seq = self.next_seq(end);
        self.ops[op].ends.push(end);
        if self.ends[end].is_channel {
            self.insert_in_line(end, Entry { seq, item, sender: Some((op, case)) });
        } else {
            self.ends[end].puts.push_back(ParkedPut { op, case, seq, item });
        }
    }

    fn register_take(&mut self, end: End, op: OpId, case: usize) {
        self.ops[op].ends.push(end);
        self.ends[end].gets.push_back((op, case));
    }

    fn take_with_seq(&mut self, end: End) -> Result<(u64, u32), Taken> {
        if self.ends[end].takes_closed {
            return Err(Taken::Closed);
        }
        match self.ends[end].line.pop_front() {
            Some(entry) => {
                if let Some((op, case)) = entry.sender {
                    self.complete(op, Status::Sent { case });
                }
                self.admit(end);
                Ok((entry.seq, entry.item))
            }
            None if self.ends[end].offers_closed => Err(Taken::Closed),
            None => Err(Taken::NotNow),
        }
    }

    /// Takes the first item of the line without waiting.
    pub fn take(&mut self, end: End) -> Taken {
        match self.take_with_seq(end) {
            Ok((_, item)) => Taken::Item(item),
            Err(taken) => taken,
        }
    }

    /// `get_many_nowait(max)`: `Ok(items)`, or `Err(NotNow | Closed)` when it took nothing.
    pub fn take_many(&mut self, end: End, max: usize) -> Result<Vec<u32>, Taken> {
        if self.ends[end].takes_closed {
            return Err(Taken::Closed);
        }
        let mut got = Vec::new();
        while got.len() < max {
            match self.take_with_seq(end) {
                Ok((_, item)) => got.push(item),
                Err(_) => break,
            }
        }
        match (got.is_empty(), self.ends[end].offers_closed) {
            (false, _) => Ok(got),
            (true, true) => Err(Taken::Closed),
            (true, false) => Err(Taken::NotNow),
        }
    }

    /// `put_many_nowait`: places what it can from the front of `items`; `Err` if closed (as the
    /// core's `State::offer_many`).
    #[allow(clippy::result_unit_err)]
    pub fn offer_many(&mut self, end: End, items: &mut VecDeque<u32>) -> Result<usize, ()> {
        if self.offers_closed(end) {
            return Err(());
        }
        let mut placed = 0;
        while !self.ends[end].gets.is_empty() {
            let Some(item) = items.pop_front() else { return Ok(placed) };
            match self.offer(end, item, Kind::Buffered) {
                Offered::Delivered | Offered::Buffered => placed += 1,
                Offered::NotNow(item) | Offered::Closed(item) => {
                    items.push_front(item);
                    return Ok(placed);
                }
            }
        }
        let room = match self.ends[end].cap {
            None => items.len(),
            Some(cap) => cap.saturating_sub(self.buffered(end)).min(items.len()),
        };
        for item in items.drain(..room).collect::<Vec<_>>() {
            let seq = self.next_seq(end);
            self.ends[end].line.push_back(Entry { seq, item, sender: None });
        }
        Ok(placed + room)
    }

    /// Puts back an item at sequence number `seq` (0: in front of everything).
    pub fn requeue(&mut self, end: End, seq: u64, item: u32) {
        count(5);
        if self.ends[end].takes_closed {
            self.expected_drops.push(item);
            return;
        }
        if let Err(item) = self.deliver(end, seq, item) {
            self.insert_in_line(end, Entry { seq, item, sender: None });
        }
    }

    /// `put_back_many`: in front of everything, in their order; parked takes get the first.
    pub fn requeue_front(&mut self, end: End, items: Vec<u32>) {
        if self.ends[end].takes_closed {
            self.expected_drops.extend(items);
            return;
        }
        let mut items = items.into_iter();
        let mut kept = Vec::new();
        for item in items.by_ref() {
            if let Err(item) = self.deliver(end, 0, item) {
                kept.push(item);
                break;
            }
        }
        kept.extend(items);
        for item in kept.into_iter().rev() {
            self.ends[end].line.push_front(Entry { seq: 0, item, sender: None });
        }
    }

    /// Parked offers get their items back, closed.
    fn fail_offers(&mut self, end: End) {
        let puts: Vec<ParkedPut> = self.ends[end].puts.drain(..).collect();
        for put in puts {
            if self.ops[put.op].status == Status::Waiting {
                self.complete(put.op, Status::SendClosed { case: put.case, item: put.item });
            } else {
                self.expected_drops.push(put.item);
            }
        }
        while let Some(index) = self.ends[end].line.iter().position(|entry| entry.sender.is_some()) {
            let entry = self.ends[end].line.remove(index).expect("found");
            let (op, case) = entry.sender.expect("a sender");
            self.complete(op, Status::SendClosed { case, item: entry.item });
        }
    }

    fn fail_takes(&mut self, end: End) {
        while let Some((op, case)) = self.ends[end].gets.pop_front() {
            if self.ops[op].status == Status::Waiting {
                self.complete(op, Status::Drained { case });
            }
        }
    }

    /// A queue's `close`, a channel's `close_send`.
    pub fn close_offers(&mut self, end: End) {
        if self.ends[end].offers_closed {
            return;
        }
        self.ends[end].offers_closed = true;
        self.fail_offers(end);
        if self.buffered(end) == 0 {
            self.fail_takes(end);
        }
    }

    /// A channel's `close_recv`, a queue's last handle gone: the line is dropped.
    pub fn close_takes(&mut self, end: End) {
        if self.ends[end].takes_closed {
            return;
        }
        self.ends[end].takes_closed = true;
        let line = std::mem::take(&mut self.ends[end].line);
        let mut senders = VecDeque::new();
        for entry in line {
            if entry.sender.is_some() {
                senders.push_back(entry);
            } else {
                self.expected_drops.push(entry.item);
            }
        }
        self.ends[end].line = senders;
        self.fail_offers(end);
        self.fail_takes(end);
    }

    // ---- parked single operations --------------------------------------------------------------

    /// A take that found nothing parks.
    pub fn park_take(&mut self, end: End) -> OpId {
        let op = self.new_op(false);
        self.register_take(end, op, 0);
        op
    }

    /// An offer that found no room parks with its item.
    pub fn park_offer(&mut self, end: End, item: u32) -> OpId {
        let op = self.new_op(false);
        self.register_offer(end, op, 0, item);
        op
    }

    /// A parked receive's outcome, if it has one (`poll`): collected.
    pub fn collect_recv(&mut self, op: OpId) -> Option<Result<u32, &'static str>> {
        let outcome = match self.ops[op].status.clone() {
            Status::Waiting => return None,
            Status::Got { item, .. } => Ok(item),
            Status::Drained { .. } => Err("closed"),
            other => panic!("model: a receive cannot be {other:?}"),
        };
        self.ops[op].status = Status::Collected;
        Some(outcome)
    }

    /// `PendingRecv::cancel`.
    pub fn cancel_recv(&mut self, op: OpId) -> Result<u32, &'static str> {
        if self.ops[op].status == Status::Waiting {
            self.ops[op].status = Status::Aborted;
            assert!(self.unregister(op).is_empty());
            return Err("withdrawn");
        }
        self.collect_recv(op).expect("not waiting")
    }

    /// `PendingRecv::cancel_and_requeue` (and dropping a `PendingRecv`).
    pub fn requeue_recv(&mut self, op: OpId) {
        match self.ops[op].status.clone() {
            Status::Waiting => {
                self.ops[op].status = Status::Aborted;
                assert!(self.unregister(op).is_empty());
            }
            Status::Got { end, seq, item, .. } => {
                self.ops[op].status = Status::Collected;
                self.requeue(end, seq, item);
            }
            _ => self.ops[op].status = Status::Collected,
        }
    }

    /// A parked send's outcome, if it has one (`poll`): `Ok(())`, or the item back.
    pub fn collect_send(&mut self, op: OpId) -> Option<Result<(), (&'static str, u32)>> {
        let outcome = match self.ops[op].status.clone() {
            Status::Waiting => return None,
            Status::Sent { .. } => Ok(()),
            Status::SendClosed { item, .. } => Err(("closed", item)),
            other => panic!("model: a send cannot be {other:?}"),
        };
        self.ops[op].status = Status::Collected;
        Some(outcome)
    }

    /// `PendingSend::cancel`: withdrawn with its item, or what it had reached.
    pub fn cancel_send(&mut self, op: OpId) -> Result<(), (&'static str, u32)> {
        if self.ops[op].status == Status::Waiting {
            self.ops[op].status = Status::Aborted;
            let items = self.unregister(op);
            assert_eq!(items.len(), 1, "model: a parked send holds its item");
            return Err(("withdrawn", items[0]));
        }
        self.collect_send(op).expect("not waiting")
    }

    /// Dropping a `PendingSend`: cancelled, and any item it gets back is dropped.
    pub fn drop_send(&mut self, op: OpId) {
        if let Err((_, item)) = self.cancel_send(op) {
            self.expected_drops.push(item);
        }
    }

    // ---- select --------------------------------------------------------------------------------

    /// `start_select` over `cases` (`(end, Some(item))` to send, `(end, None)` to receive), tried
    /// in `order`.
    pub fn select(&mut self, cases: Vec<(End, Option<u32>)>, order: &[usize], wait: bool) -> SelectStart {
        let mut items: Vec<Option<u32>> = cases.iter().map(|&(_, item)| item).collect();
        let mut selected = None;
        for &case in order {
            let end = cases[case].0;
            match items[case].take() {
                None => match self.take(end) {
                    Taken::Item(item) => selected = Some(Sel::Received(case, item)),
                    Taken::Closed => selected = Some(Sel::Drained(case)),
                    Taken::NotNow => {}
                },
                Some(item) => {
                    let kind = if self.ends[end].is_channel { Kind::Rendezvous } else { Kind::Buffered };
                    match self.offer(end, item, kind) {
                        Offered::Delivered | Offered::Buffered => selected = Some(Sel::Sent(case)),
                        Offered::Closed(item) => selected = Some(Sel::SendClosed(case, item)),
                        Offered::NotNow(item) => items[case] = Some(item),
                    }
                }
            }
            if selected.is_some() {
                break;
            }
        }
        if let Some(selected) = selected {
            self.expected_drops.extend(items.into_iter().flatten());
            return SelectStart::Ready(selected);
        }
        if !wait {
            self.expected_drops.extend(items.into_iter().flatten());
            return SelectStart::NotReady;
        }
        let op = self.new_op(true);
        for (case, &(end, _)) in cases.iter().enumerate() {
            match items[case].take() {
                None => self.register_take(end, op, case),
                Some(item) => self.register_offer(end, op, case, item),
            }
        }
        SelectStart::Pending(op)
    }

    fn selected(&self, op: OpId) -> Option<Sel> {
        Some(match self.ops[op].status {
            Status::Waiting => return None,
            Status::Got { case, item, .. } => Sel::Received(case, item),
            Status::Sent { case } => Sel::Sent(case),
            Status::SendClosed { case, item } => Sel::SendClosed(case, item),
            Status::Drained { case } => Sel::Drained(case),
            ref other => panic!("model: a select cannot be {other:?}"),
        })
    }

    /// `PendingSelect::wait_until(now)`: the outcome if one came.
    pub fn poll_select(&mut self, op: OpId) -> Option<Sel> {
        let selected = self.selected(op)?;
        self.ops[op].status = Status::Collected;
        Some(selected)
    }

    /// `PendingSelect::cancel`.
    pub fn cancel_select(&mut self, op: OpId) -> Option<Sel> {
        if self.ops[op].status == Status::Waiting {
            self.ops[op].status = Status::Aborted;
            let items = self.unregister(op);
            self.expected_drops.extend(items);
            return None;
        }
        self.poll_select(op)
    }

    /// `PendingSelect::cancel_and_requeue` (and dropping it): a received item goes back; an item
    /// a send case got back from a close is dropped.
    pub fn requeue_select(&mut self, op: OpId) {
        match self.ops[op].status.clone() {
            Status::Waiting => {
                self.ops[op].status = Status::Aborted;
                let items = self.unregister(op);
                self.expected_drops.extend(items);
            }
            Status::Got { end, seq, item, .. } => {
                self.ops[op].status = Status::Collected;
                self.requeue(end, seq, item);
            }
            Status::SendClosed { item, .. } => {
                self.ops[op].status = Status::Collected;
                self.expected_drops.push(item);
            }
            _ => self.ops[op].status = Status::Collected,
        }
    }
}
