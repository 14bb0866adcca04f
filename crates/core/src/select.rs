//! Go's `select` over channels and queues: complete exactly one of several sends and receives.
//!
//! Algorithm (Go's `selectgo`): lock every channel or queue involved, in creation order (so two
//! selects, or a select and a plain call, can never deadlock or livelock); try the cases in the
//! caller's (random) order and complete the first that is ready; if none is, register one waiter
//! on every case — a send case parks its item there — and unlock. A peer that serves any
//! registration completes the waiter through that case; the waiter's own lock makes sure only one
//! case wins. Whoever ends the wait (completion, deadline, cancel) then removes the waiter's
//! other registrations, taking back the items of its other send cases, so nothing is sent or
//! taken except through the case that won.
//!
//! A case names the exchange it waits on and what to do there (take, or offer with the
//! channel's or queue's way of offering); the handles make their own cases
//! (`Receiver::recv_case`, `Sender::send_case`, `QueueHandle::get_case`,
//! `QueueHandle::put_case`), so this module knows nothing of channels and queues.

use std::time::Instant;

use crate::exchange::{Exchange, Locked, OfferKind, Offered, Registration, Taken};
use crate::sync::Arc;
use crate::waiter::{Completion, Outcome, Waiter};

/// One case of a select: a receive (or get) from a channel or queue, or a send (or put) of an
/// item into one. Made by the handles' `*_case` methods.
pub struct Case<'a, T> {
    exchange: &'a Arc<Exchange<T>>,
    action: Action<T>,
}

impl<'a, T> Case<'a, T> {
    /// A case that takes from `exchange`.
    pub(crate) fn take(exchange: &'a Arc<Exchange<T>>) -> Self {
        Case { exchange, action: Action::Take }
    }

    /// A case that offers `item` on `exchange` the way `kind` says.
    pub(crate) fn offer(exchange: &'a Arc<Exchange<T>>, item: T, kind: OfferKind) -> Self {
        Case { exchange, action: Action::Offer(Some(item), kind) }
    }
}

/// The case that completed.
#[derive(Debug, PartialEq)]
pub enum Selected<T> {
    /// Receive case `.0` got an item.
    Received(usize, T),
    /// Receive case `.0`: its channel or queue is closed and drained (ready for ever).
    Drained(usize),
    /// Send case `.0` delivered its item.
    Sent(usize),
    /// Send case `.0`: its channel or queue is closed; the item comes back.
    SendClosed(usize, T),
}

/// How starting a select went.
pub enum SelectStart<T> {
    /// A case was ready and completed.
    Ready(Selected<T>),
    /// No case was ready and the caller would not wait.
    NotReady,
    /// No case was ready: the select is parked on all of them.
    Pending(PendingSelect<T>),
}

enum Action<T> {
    Take,
    /// The item is `None` only while a ready case is being tried with it.
    Offer(Option<T>, OfferKind),
}

/// Starts a select over `cases`, trying them in `order` (a permutation of the case indices;
/// [`random_order`] gives Go's fairness). With `wait` false nothing is registered.
///
/// # Panics
/// If `order` is not a permutation of `0..cases.len()`.
pub fn start_select<T>(cases: Vec<Case<'_, T>>, order: &[usize], wait: bool) -> SelectStart<T> {
    assert_eq!(order.len(), cases.len(), "order must be a permutation of the cases");
    let (exchanges, mut actions): (Vec<&Arc<Exchange<T>>>, Vec<Action<T>>) =
        cases.into_iter().map(|case| (case.exchange, case.action)).unzip();

    // Lock each distinct exchange once, in creation order.
    let key = |case: usize| exchanges[case].order();
    let mut distinct: Vec<usize> = (0..exchanges.len()).collect();
    distinct.sort_by_key(|&case| key(case));
    distinct.dedup_by_key(|case| key(*case));
    let mut guards: Vec<(u64, Locked<'_, T>)> =
        distinct.iter().map(|&case| (key(case), exchanges[case].lock())).collect();
    let state_of = |guards: &mut Vec<(u64, Locked<'_, T>)>, case: usize| -> usize {
        guards.iter().position(|(locked, _)| *locked == key(case)).expect("every exchange is locked")
    };

    let mut selected = None;
    for &case in order {
        let slot = state_of(&mut guards, case);
        let state = &mut guards[slot].1;
        match &mut actions[case] {
            Action::Take => match state.take() {
                Taken::Item(item) => selected = Some(Selected::Received(case, item)),
                Taken::Closed => selected = Some(Selected::Drained(case)),
                Taken::NotNow => {}
            },
            Action::Offer(item, kind) => {
                let offered = item.take().expect("each case is tried once");
                match state.offer(offered, *kind) {
                    Offered::Delivered | Offered::Buffered => selected = Some(Selected::Sent(case)),
                    Offered::Closed(back) => selected = Some(Selected::SendClosed(case, back)),
                    Offered::NotNow(back) => *item = Some(back),
                }
            }
        }
        if selected.is_some() {
            break;
        }
    }
    if let Some(selected) = selected {
        drop(guards);
        // The items of the other send cases are dropped here, outside every lock.
        drop(actions);
        return SelectStart::Ready(selected);
    }
    if !wait {
        drop(guards);
        return SelectStart::NotReady;
    }

    let waiter = Arc::new(Waiter::new());
    let mut sends = Vec::with_capacity(actions.len());
    for (case, action) in actions.into_iter().enumerate() {
        let slot = state_of(&mut guards, case);
        let state = &mut guards[slot].1;
        let at = Registration { waiter: waiter.clone(), case };
        match action {
            Action::Take => {
                state.register_taker(at);
                sends.push(false);
            }
            Action::Offer(item, kind) => {
                state.register_offer(at, item.expect("not taken by a ready case"), kind);
                sends.push(true);
            }
        }
    }
    drop(guards);
    let exchanges = exchanges.into_iter().cloned().collect();
    SelectStart::Pending(PendingSelect { waiter, exchanges, distinct, sends, spun: false, done: false })
}

/// A select parked on all its cases. Dropping it cancels it (an item a receive case had already
/// been handed goes back).
pub struct PendingSelect<T> {
    waiter: Arc<Waiter<T>>,
    /// Per case: where it is registered.
    exchanges: Vec<Arc<Exchange<T>>>,
    /// The first case on each distinct exchange, to withdraw from each once.
    distinct: Vec<usize>,
    /// Per case: whether it is a send case.
    sends: Vec<bool>,
    spun: bool,
    done: bool,
}

impl<T> PendingSelect<T> {
    /// Waits until a case completes or `deadline` passes (`None`: for ever). Returns `None` if the
    /// deadline passed first; the select stays parked, to be waited on again or cancelled.
    pub fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Selected<T>> {
        assert!(!self.done, "a finished select is not waited on");
        let spin = !std::mem::replace(&mut self.spun, true);
        let completion = self.waiter.wait_until(deadline, spin)?;
        Some(self.finish(completion))
    }

    /// Gives up: `None` if no case completed (nothing was sent or taken), otherwise the case
    /// that completed meanwhile.
    pub fn cancel(mut self) -> Option<Selected<T>> {
        let completion = self.waiter.abort();
        match completion {
            Some(completion) => Some(self.finish(completion)),
            None => {
                self.withdraw_all();
                self.done = true;
                None
            }
        }
    }

    /// Gives up for a caller that cannot take an item any more (it is raising an exception): an
    /// item a receive case had already been handed goes back to its place in the order.
    pub fn cancel_and_requeue(mut self) {
        self.requeue_in_place();
    }

    fn requeue_in_place(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let completion = self.waiter.abort();
        self.withdraw_all();
        if let Some(Completion { case, outcome: Outcome::Received { ticket, item } }) = completion {
            self.exchanges[case].requeue(ticket, item);
        }
    }

    fn finish(&mut self, completion: Completion<T>) -> Selected<T> {
        self.done = true;
        self.withdraw_all();
        let Completion { case, outcome } = completion;
        match outcome {
            Outcome::Received { item, .. } => Selected::Received(case, item),
            Outcome::Sent => Selected::Sent(case),
            Outcome::Closed(Some(item)) => Selected::SendClosed(case, item),
            Outcome::Closed(None) if self.sends[case] => {
                unreachable!("a send case is failed with its item back")
            }
            Outcome::Closed(None) => Selected::Drained(case),
        }
    }

    /// Removes the waiter's registrations everywhere; the items of send cases that did not win
    /// are dropped (outside the locks).
    fn withdraw_all(&self) {
        for &case in &self.distinct {
            drop(self.exchanges[case].withdraw(&self.waiter));
        }
    }
}

impl<T> Drop for PendingSelect<T> {
    fn drop(&mut self) {
        self.requeue_in_place();
    }
}

/// A random permutation of `0..n`, for Go's rule that a select picks uniformly among the ready
/// cases (the first ready case in a random order is uniform among the ready ones).
pub fn random_order(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next_random() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

#[cfg(not(loom))]
fn next_random() -> u64 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        // Seeded from std's per-process random keys; xorshift64* after that.
        static STATE: Cell<u64> = Cell::new({
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_usize(&hasher as *const _ as usize);
            hasher.finish() | 1
        });
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

#[cfg(loom)]
fn next_random() -> u64 {
    // Deterministic under loom: the models choose the order themselves.
    0
}
