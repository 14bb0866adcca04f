"""The code each worker interpreter of the stress suite runs (see stress/run.py).

``interpreter_main`` is called inside an isolated interpreter (by ``run.py`` through
``Interpreter.run``). It starts one thread per role given to it -- producers and consumers -- waits on
the shared start barrier with every other thread of every interpreter, joins its threads within a
deadline and reports, through the ``results`` channel, each role's outcome and the threads that
were still alive at the deadline.

Lanes. Items travel through *lanes*: channel lanes and queue lanes. A lane is a fixed sequence of
generations (a channel, or a queue, each); everyone starts on generation 0. Mid-stream closes close
one generation at a time (the send end of a channel, or a queue) -- by the main interpreter or by a
producer in any interpreter -- and whoever meets the closed generation moves to the next one: a
producer when a send raised the closed error, a consumer once the generation is closed *and
drained*. The last generation of every lane is closed by the main interpreter only after every
producer has finished, so the consumers drain everything and stop. Only send sides are ever closed,
so nothing that entered a channel or queue is dropped by design.

Items are ints ``(producer id << 32) | sequence number`` (sometimes wrapped in a 1-tuple or a
2-tuple with a str, to vary the payload). Each producer attempts sequence numbers 0, 1, 2, ... in
order, each exactly once, until its quota of *successful* sends is reached, and records per
sequence number one status byte: SENT, or the refusal kind (the exception a send raised, or a
select with a default that took nothing). Consumers record every item they receive, in an
``array('Q')``; both are shipped to the main interpreter as bytes at the end. Each consumer also
checks, per (producer, lane), that sequence numbers increase (objects from one sender arrive in the
order sent).
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from array import array
from typing import Any

import subinterpreters as si

# Status byte per attempted sequence number (index = refusal kind).
SENT = 1
REFUSED_TIMEOUT = 2  # TimeoutError (send / put / select timed out)
REFUSED_CHANNEL_CLOSED = 3  # ChannelClosedError
REFUSED_QUEUE_FULL = 4  # QueueFull (put timeout, put_nowait, short put_many on an open queue)
REFUSED_QUEUE_CLOSED = 5  # QueueClosedError (or put_many cut short by a close)
REFUSED_SELECT_DEFAULT = 6  # select(..., default=...) found no case ready: nothing sent
STATUS_NAMES = {
    REFUSED_TIMEOUT: "TimeoutError",
    REFUSED_CHANNEL_CLOSED: "ChannelClosedError",
    REFUSED_QUEUE_FULL: "QueueFull",
    REFUSED_QUEUE_CLOSED: "QueueClosedError",
    REFUSED_SELECT_DEFAULT: "select default",
}

SEQ_BITS = 32
SEQ_MASK = (1 << SEQ_BITS) - 1
PROGRESS_EVERY = 64  # producers publish their progress every so many successful sends

# Timeouts drawn at random. Producers may block without limit (None) now and then: consumers always
# come back within a bounded time, so a rendezvous or a full queue is always served eventually.
PRODUCER_TIMEOUTS = (None, 0.0, 0.0001, 0.0005, 0.002, 0.01, 0.03)
CONSUMER_TIMEOUTS = (0.0, 0.0002, 0.001, 0.005, 0.02)


class Lanes:
    """One thread's view of the lanes: its current generation of each."""

    def __init__(self, chan_lanes: tuple, queue_lanes: tuple) -> None:
        # Lane k < n_chan is channel lane k; lane n_chan + j is queue lane j.
        self.n_chan = len(chan_lanes)
        self.gens = [tuple(lane) for lane in chan_lanes] + [tuple(lane) for lane in queue_lanes]
        self.current = [0] * len(self.gens)

    def is_channel(self, lane: int) -> bool:
        return lane < self.n_chan

    def last(self, lane: int) -> int:
        return len(self.gens[lane]) - 1

    def send_end(self, lane: int):
        gen = self.gens[lane][self.current[lane]]
        return gen[1] if lane < self.n_chan else gen

    def recv_end(self, lane: int):
        gen = self.gens[lane][self.current[lane]]
        return gen[0] if lane < self.n_chan else gen

    def final_closed(self) -> bool:
        """True if some lane's last generation is closed (the run is being wound up)."""
        return any(
            self.current[k] == self.last(k) and self.send_end(k).is_closed for k in range(len(self.gens))
        )

    def skip_closed_sends(self) -> None:
        """Producer side: move every lane past its closed generations (never past the last)."""
        for lane in range(len(self.gens)):
            while self.current[lane] < self.last(lane) and self.send_end(lane).is_closed:
                self.current[lane] += 1


def wrap(item: int, rng_value: float) -> object:
    """Vary the payload a little: mostly a bare int, sometimes a tuple."""
    if rng_value < 0.9:
        return item
    if rng_value < 0.95:
        return (item,)
    return (item, "x" * (item & 15))


def unwrap(obj: object) -> int:
    return obj if type(obj) is int else obj[0]  # type: ignore[index,return-value]


def producer(pid: int, cfg: dict, lanes: Lanes, progress, results, barrier, closes: list) -> None:
    """Send ``quota`` items successfully; record each attempt's status byte."""
    rng = random.Random(cfg["seed"] * 1_000_003 + 17 * pid + 1)
    quota = cfg["quota"][pid]
    status = bytearray()
    counts = {"select": 0, "nowait": 0, "send": 0, "put_many": 0, "closes": 0}
    base = pid << SEQ_BITS
    n_lanes = len(lanes.gens)
    n_chan = lanes.n_chan
    mv = memoryview(progress)
    # Mid-stream closes assigned to this producer: (fraction of quota, lane, generation), sorted.
    closes = sorted(closes)
    sent = 0
    seq = 0
    timeouts = PRODUCER_TIMEOUTS
    barrier.wait(timeout=cfg["start_timeout"])
    t0 = time.monotonic()
    while sent < quota:
        while closes and sent >= closes[0][0] * quota:
            _, lane, gen = closes.pop(0)
            target = lanes.gens[lane][gen]
            (target[1] if lane < n_chan else target).close()
            counts["closes"] += 1
            lanes.skip_closed_sends()
        r = rng.random()
        item = base | seq
        payload = wrap(item, rng.random())
        if r < 0.28:  # rendezvous send with a random timeout
            lane = rng.randrange(n_chan)
            end = lanes.send_end(lane)
            counts["send"] += 1
            try:
                end.send(payload, timeout=rng.choice(timeouts))
                code = SENT
            except TimeoutError:
                code = REFUSED_TIMEOUT
            except si.ChannelClosedError:
                code = REFUSED_CHANNEL_CLOSED
        elif r < 0.44:  # send_nowait: hand over or queue
            lane = rng.randrange(n_chan)
            end = lanes.send_end(lane)
            counts["nowait"] += 1
            try:
                end.send_nowait(payload)
                code = SENT
            except si.ChannelClosedError:
                code = REFUSED_CHANNEL_CLOSED
        elif r < 0.58:  # queue put, blocking with a random timeout
            lane = n_chan + rng.randrange(n_lanes - n_chan)
            end = lanes.send_end(lane)
            counts["send"] += 1
            try:
                end.put(payload, timeout=rng.choice(timeouts))
                code = SENT
            except si.QueueFull:
                code = REFUSED_QUEUE_FULL
            except si.QueueClosedError:
                code = REFUSED_QUEUE_CLOSED
        elif r < 0.64:  # put_nowait
            lane = n_chan + rng.randrange(n_lanes - n_chan)
            end = lanes.send_end(lane)
            counts["nowait"] += 1
            try:
                if r < 0.61:
                    end.put_nowait(payload)
                else:
                    end.put(payload, block=False)
                code = SENT
            except si.QueueFull:
                code = REFUSED_QUEUE_FULL
            except si.QueueClosedError:
                code = REFUSED_QUEUE_CLOSED
        elif r < 0.67:  # put_many: a batch of consecutive sequence numbers
            lane = n_chan + rng.randrange(n_lanes - n_chan)
            end = lanes.send_end(lane)
            batch = min(rng.randrange(2, 12), quota - sent)
            items = [base | (seq + k) for k in range(batch)]
            counts["put_many"] += 1
            try:
                done = end.put_many(items, timeout=rng.choice(timeouts))
                rest = REFUSED_QUEUE_CLOSED if end.is_closed else REFUSED_QUEUE_FULL
            except si.QueueClosedError:
                done, rest = 0, REFUSED_QUEUE_CLOSED
            status += bytes((SENT,)) * done + bytes((rest,)) * (batch - done)
            if rest == REFUSED_QUEUE_CLOSED:
                lanes.skip_closed_sends()
                if lanes.final_closed():
                    break
            seq += batch
            sent += done
            if sent // PROGRESS_EVERY != (sent - done) // PROGRESS_EVERY:
                mv[pid] = sent
            continue
        else:  # select over 2 or 3 send cases, with a timeout or a default
            picked = rng.sample(range(n_lanes), rng.randrange(2, 4))
            cases = [(lanes.send_end(k), payload) for k in picked]
            counts["select"] += 1
            try:
                if rng.random() < 0.3:
                    index, _ = si.select(cases, default=None)
                    code = REFUSED_SELECT_DEFAULT if index is None else SENT
                else:
                    si.select(cases, timeout=rng.choice(timeouts[1:]))
                    code = SENT
            except TimeoutError:
                code = REFUSED_TIMEOUT
            except si.ChannelClosedError:
                code = REFUSED_CHANNEL_CLOSED
            except si.QueueClosedError:
                code = REFUSED_QUEUE_CLOSED
        status.append(code)
        seq += 1
        if code == SENT:
            sent += 1
            if sent % PROGRESS_EVERY == 0:
                mv[pid] = sent
        elif code == REFUSED_CHANNEL_CLOSED or code == REFUSED_QUEUE_CLOSED:
            lanes.skip_closed_sends()
            if lanes.final_closed():
                break  # only after a failure elsewhere: the main interpreter closed everything
    mv[pid] = sent
    mv.release()
    elapsed = time.monotonic() - t0
    results.send_nowait(("producer", pid, bytes(status), tuple(counts.items()), elapsed))


def consumer(cid: int, cfg: dict, lanes: Lanes, results, barrier) -> None:
    """Receive until every lane's last generation is closed and drained; record every item."""
    rng = random.Random(cfg["seed"] * 1_000_003 + 17 * cid + 2)
    received = array("Q")
    append = received.append
    counts = {"select": 0, "select_closed": 0, "nowait": 0, "recv": 0, "get_many": 0, "empty": 0}
    n_chan = lanes.n_chan
    active = list(range(len(lanes.gens)))  # lanes whose last generation is not yet drained
    last_seen: dict[int, int] = {}  # (lane << 32 | producer) -> last sequence number received
    disorder: list[str] = []
    timeouts = CONSUMER_TIMEOUTS
    missing = object()

    per_lane = [0] * len(lanes.gens)

    def take(lane: int, obj: object) -> None:
        per_lane[lane] += 1
        item = unwrap(obj)
        append(item)
        key = (lane << 32) | (item >> SEQ_BITS)
        seq = item & SEQ_MASK
        prev = last_seen.get(key, -1)
        if seq <= prev and len(disorder) < 5:
            disorder.append(f"lane {lane}: producer {item >> SEQ_BITS} seq {seq} after {prev}")
        last_seen[key] = seq

    def exhausted(lane: int) -> None:
        """The lane's current generation is closed and drained: move on (or retire the lane)."""
        if lanes.current[lane] < lanes.last(lane):
            lanes.current[lane] += 1
        else:
            active.remove(lane)

    barrier.wait(timeout=cfg["start_timeout"])
    t0 = time.monotonic()
    while active:
        r = rng.random()
        if r < 0.3:  # select over every active lane
            cases = [lanes.recv_end(k) for k in active]
            counts["select"] += 1
            try:
                if rng.random() < 0.3:
                    index, value = si.select(cases, default=missing)
                    if index is None:
                        counts["empty"] += 1
                        continue
                else:
                    index, value = si.select(cases, timeout=rng.choice(timeouts[1:]))
            except TimeoutError:
                counts["empty"] += 1
                continue
            lane = active[index]
            if value is si.CLOSED:
                counts["select_closed"] += 1
                exhausted(lane)
            else:
                take(lane, value)
            continue
        lane = rng.choice(active)
        end = lanes.recv_end(lane)
        try:
            if lane < n_chan:
                if r < 0.8:
                    counts["recv"] += 1
                    take(lane, end.recv(timeout=rng.choice(timeouts)))
                else:
                    counts["nowait"] += 1
                    obj = end.recv_nowait(missing)
                    if obj is missing:
                        counts["empty"] += 1
                    else:
                        take(lane, obj)
            elif r < 0.6:
                counts["recv"] += 1
                take(lane, end.get(timeout=rng.choice(timeouts[1:])))
            elif r < 0.75:
                counts["nowait"] += 1
                take(lane, end.get_nowait())
            else:
                counts["get_many"] += 1
                for obj in end.get_many(rng.randrange(1, 33), timeout=rng.choice(timeouts)):
                    take(lane, obj)
        except (TimeoutError, si.QueueEmpty, si.ChannelEmptyError):
            counts["empty"] += 1
        except (si.ChannelClosedError, si.QueueClosedError):
            exhausted(lane)
    elapsed = time.monotonic() - t0
    counts["via_channels"] = sum(per_lane[:n_chan])
    counts["via_queues"] = sum(per_lane[n_chan:])
    inject = cfg["inject"]
    if cid == 0 and inject == "loss" and received:
        received.pop(len(received) // 2)  # forget one received item
    elif cid == 0 and inject == "duplicate" and received:
        received.append(received[len(received) // 2])  # count one received item twice
    results.send_nowait(
        ("consumer", cid, received.tobytes(), tuple(counts.items()), elapsed, tuple(disorder))
    )
    if cid == 0 and inject == "hang":
        never_recv, never_send = si.create_channel()
        never_recv.recv()  # nobody ever sends: this thread stays blocked (until process exit)


def interpreter_main(
    roles: tuple,
    config: tuple,
    chan_lanes: tuple,
    queue_lanes: tuple,
    results,
    progress,
    barrier,
    closes: tuple,
    finished,
) -> None:
    """Run the given roles (("producer", id) / ("consumer", id)) on threads of this interpreter."""
    cfg = dict(config)
    threads = []

    def guarded(kind: str, ident: int, fn, *args) -> None:
        try:
            fn(ident, cfg, Lanes(chan_lanes, queue_lanes), *args)
        except BaseException:  # noqa: BLE001 - reported to the main interpreter
            results.send_nowait(("error", f"{kind} {ident}", traceback.format_exc()))
            try:
                barrier.abort()  # do not leave the others waiting at the start
            except Exception:  # noqa: BLE001
                pass

    for kind, ident in roles:
        args: tuple[Any, ...]
        if kind == "producer":
            mine = [c[1:] for c in closes if c[0] == ident]
            args = (kind, ident, producer, progress, results, barrier, mine)
        else:
            args = (kind, ident, consumer, results, barrier)
        thread = threading.Thread(target=guarded, args=args, name=f"{kind} {ident}")
        thread.start()
        threads.append(thread)
    # The main interpreter sets `finished` once it closed the last generations: from then on every
    # thread must end within join_timeout seconds.
    finished.wait(cfg["run_timeout"])
    deadline = time.monotonic() + cfg["join_timeout"]
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = tuple(thread.name for thread in threads if thread.is_alive())
    results.send_nowait(("interpreter", cfg["interp_index"], alive))
