"""Stress suite: producers and consumers on threads of isolated interpreters move many items through
channels and queues -- random timeouts, *_nowait calls, put_many/get_many, select, and closes in
mid-stream -- then every item is accounted for.

    make stress                                   # 10^6 items, a random seed (printed)
    python stress/run.py --items 20000 --seed 1   # a short run

Layout (defaults): 4 isolated interpreters; in each, 2 producer and 2 consumer threads (8 + 8),
all started together by one cross-interpreter ``si.Barrier``. Items go through 4 channel lanes and
4 queue lanes (bounded 1, 8, 64 and unbounded); each lane is a sequence of generations (one per
25,000 items, at least 4), and every generation but the last is closed in mid-stream -- by the main
interpreter or by a producer thread in some interpreter -- when the producers' progress (published
in a ``si.SharedArray``) reaches a random point. Whoever meets a closed generation moves to the next
(see stress/stress_worker.py).
Only send sides are closed mid-stream (channel send ends, queues), so receivers drain what entered.

The check, once every producer has sent its quota and the main interpreter has closed the last
generations:

* every send that returned normally was received exactly once (no loss, no duplicate);
* every send that was refused -- it raised TimeoutError, ChannelClosedError, QueueFull or
  QueueClosedError, a put_many put fewer than asked, or a select with a default took nothing --
  was never received;
* per consumer, items of one producer through one lane arrive in increasing order;
* every thread (in every interpreter) ends within --join-timeout seconds of the last close, and
  nothing raised.

Exit status: 0 when all holds, 1 on loss, duplication, disorder, a hang or an error.
``--inject-loss`` / ``--inject-duplicate`` / ``--inject-hang`` make consumer 0 forget one item,
record one twice, or block for ever at the end, to show the check catches each.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import random
import sys
import threading
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import subinterpreters as si

STRESS_DIR = str(Path(__file__).resolve().parent)
sys.path.insert(0, STRESS_DIR)

import stress_worker as w  # noqa: E402  (the same module the worker interpreters import)

BOOT = """
import sys
if stress_dir not in sys.path:
    sys.path.insert(0, stress_dir)
import stress_worker
try:
    stress_worker.interpreter_main(
        roles, config, chan_lanes, queue_lanes, results, progress, barrier, closes, finished)
finally:
    del roles, config, chan_lanes, queue_lanes, results, progress, barrier, closes, finished
"""

QUEUE_SIZES = (1, 8, 64, 0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--items", type=int, default=1_000_000, help="items to move (successful sends)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a random one)")
    p.add_argument("--interpreters", type=int, default=4)
    p.add_argument("--producers", type=int, default=8)
    p.add_argument("--consumers", type=int, default=8)
    p.add_argument("--channel-lanes", type=int, default=4)
    p.add_argument("--queue-lanes", type=int, default=4)
    p.add_argument(
        "--closes-per-lane",
        type=int,
        default=None,
        help="mid-stream closes per lane (default: one per 25,000 items, at least 3)",
    )
    p.add_argument(
        "--run-timeout",
        type=float,
        default=900.0,
        help="seconds the producers may take before the run counts as hung",
    )
    p.add_argument(
        "--join-timeout",
        type=float,
        default=30.0,
        help="seconds every thread has to end after the last close",
    )
    p.add_argument("--inject-loss", action="store_true", help="consumer 0 forgets one item")
    p.add_argument("--inject-duplicate", action="store_true", help="consumer 0 records one twice")
    p.add_argument("--inject-hang", action="store_true", help="consumer 0 blocks for ever at the end")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    for name in ("items", "interpreters", "producers", "consumers", "channel_lanes", "queue_lanes"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.closes_per_lane is None:
        args.closes_per_lane = max(3, args.items // 25_000)
    if args.closes_per_lane < 0:
        p.error("--closes-per-lane must be >= 0")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2**31)
    return args


def plan_closes(args: argparse.Namespace, rng: random.Random) -> list[tuple[int, float, int, int]]:
    """(actor, fraction, lane, generation) for every mid-stream close; actor -1 is the main
    interpreter (fraction of all items), else a producer id (fraction of its own quota)."""
    closes = []
    for lane in range(args.channel_lanes + args.queue_lanes):
        fractions = sorted(rng.uniform(0.03, 0.9) for _ in range(args.closes_per_lane))
        for gen, fraction in enumerate(fractions):
            actor = -1 if rng.random() < 0.5 else rng.randrange(args.producers)
            closes.append((actor, fraction, lane, gen))
    return closes


def fmt(n: int) -> str:
    return f"{n:,}"


class Run:
    """One stress run: set-up, the control loop in the main interpreter, collection, the check."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        P, C = args.producers, args.consumers
        self.quota = tuple(args.items // P + (1 if i < args.items % P else 0) for i in range(P))
        gens = args.closes_per_lane + 1
        self.chan_lanes = tuple(
            tuple(si.create_channel() for _ in range(gens)) for _ in range(args.channel_lanes)
        )
        self.queue_lanes = tuple(
            tuple(si.create_queue(QUEUE_SIZES[j % len(QUEUE_SIZES)]) for _ in range(gens))
            for j in range(args.queue_lanes)
        )
        self.results_recv, self.results_send = si.create_channel()
        self.progress = si.SharedArray((P,), "q")
        self.barrier = si.Barrier(P + C + 1)
        self.finished = si.Event()
        self.closes = plan_closes(args, self.rng)
        self.main_closes = sorted((f, lane, gen) for actor, f, lane, gen in self.closes if actor < 0)
        self.closes_done = {"main": 0}
        # Collected from the workers.
        self.status: dict[int, bytes] = {}
        self.received: dict[int, bytes] = {}
        self.counts: Counter[str] = Counter()
        self.producer_counts: Counter[str] = Counter()
        self.disorder: list[str] = []
        self.errors: list[str] = []
        self.alive: dict[int, tuple[str, ...]] = {}
        self.interps: list[si.Interpreter] = []
        self.futures: list[Future[None]] = []

    # --- set-up ----------------------------------------------------------------------------------

    def lane_end(self, lane: int):
        """(send end or queue) of every generation of a lane, for closing."""
        if lane < len(self.chan_lanes):
            return [send for _, send in self.chan_lanes[lane]]
        return list(self.queue_lanes[lane - len(self.chan_lanes)])

    def start(self) -> None:
        args = self.args
        inject = (
            "loss"
            if args.inject_loss
            else "duplicate"
            if args.inject_duplicate
            else "hang"
            if args.inject_hang
            else ""
        )
        for index in range(args.interpreters):
            roles = tuple(("producer", p) for p in range(args.producers) if p % args.interpreters == index)
            roles += tuple(("consumer", c) for c in range(args.consumers) if c % args.interpreters == index)
            config = (
                ("seed", args.seed),
                ("quota", self.quota),
                ("inject", inject),
                ("interp_index", index),
                ("start_timeout", 60.0),
                ("run_timeout", args.run_timeout),
                ("join_timeout", args.join_timeout),
            )
            interp = si.create()
            self.interps.append(interp)
            self.futures.append(
                interp.run_in_thread(
                    BOOT,
                    stress_dir=STRESS_DIR,
                    roles=roles,
                    config=config,
                    chan_lanes=self.chan_lanes,
                    queue_lanes=self.queue_lanes,
                    results=self.results_send,
                    progress=self.progress,
                    barrier=self.barrier,
                    closes=tuple((a, f, lane, gen) for a, f, lane, gen in self.closes if a >= 0),
                    finished=self.finished,
                )
            )

    # --- the control loop ------------------------------------------------------------------------

    def handle(self, msg: Any) -> None:
        kind = msg[0]
        if kind == "producer":
            _, pid, status, counts, _elapsed = msg
            self.status[pid] = status
            self.producer_counts.update(dict(counts))
        elif kind == "consumer":
            _, cid, received, counts, _elapsed, disorder = msg
            self.received[cid] = received
            self.counts.update(dict(counts))
            self.disorder.extend(f"consumer {cid}: {d}" for d in disorder)
        elif kind == "interpreter":
            _, index, alive = msg
            self.alive[index] = alive
        elif kind == "error":
            _, who, tb = msg
            self.errors.append(f"{who} raised:\n{tb}")
        else:
            self.errors.append(f"unexpected message {msg!r}")

    def close_lanes(self, final: bool) -> None:
        """Close every generation still open (final), or the main interpreter's due closes."""
        if final:
            for lane in range(len(self.chan_lanes) + len(self.queue_lanes)):
                for end in self.lane_end(lane):
                    end.close()
            return
        total = sum(memoryview(self.progress).tolist())
        while self.main_closes and total >= self.main_closes[0][0] * self.args.items:
            _, lane, gen = self.main_closes.pop(0)
            self.lane_end(lane)[gen].close()
            self.closes_done["main"] += 1

    def control(self) -> float:
        """Start everybody, close mid-stream, wait for the producers; return the start time."""
        args = self.args
        try:
            self.barrier.wait(timeout=60.0)
        except threading.BrokenBarrierError:
            pass  # a worker failed before starting: its error message tells why
        t0 = time.monotonic()
        deadline = t0 + args.run_timeout
        next_report = t0 + 10.0
        while len(self.status) < args.producers and not self.errors:
            now = time.monotonic()
            if now > deadline:
                self.hang(
                    f"producers did not finish within --run-timeout {args.run_timeout:g} s"
                    f" (done: {sorted(self.status)}; progress: "
                    f"{memoryview(self.progress).tolist()} of {list(self.quota)})"
                )
            if not args.quiet and now >= next_report:
                sent = sum(memoryview(self.progress).tolist())
                print(f"  [{now - t0:6.1f} s] {fmt(sent)} / {fmt(args.items)} sent", flush=True)
                next_report += 10.0
            self.close_lanes(final=False)
            try:
                self.handle(self.results_recv.recv(timeout=0.005))
            except TimeoutError:
                pass
        return t0

    def collect(self) -> None:
        """After the last closes: every consumer and interpreter reports within the bound."""
        args = self.args
        deadline = time.monotonic() + args.join_timeout + 5.0
        while len(self.alive) < args.interpreters:
            try:
                self.handle(self.results_recv.recv(timeout=max(0.0, deadline - time.monotonic())))
            except TimeoutError:
                missing = sorted(set(range(args.interpreters)) - set(self.alive))
                self.hang(f"interpreters {missing} did not report within {args.join_timeout:g} s")
        if any(self.alive.values()):
            blocked = [name for names in self.alive.values() for name in names]
            self.hang(
                f"threads still blocked {args.join_timeout:g} s after the last close: " + ", ".join(blocked)
            )
        for future in self.futures:
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                self.hang("an interpreter's run did not return")
            except si.RunFailedError as exc:
                self.errors.append(f"interpreter run failed:\n{exc.traceback}")

        def close_all() -> None:
            for interp in self.interps:
                interp.close()

        closer = threading.Thread(target=close_all, daemon=True)
        closer.start()
        closer.join(args.join_timeout)
        if closer.is_alive():
            self.hang("closing the interpreters did not finish")

    def hang(self, what: str) -> None:
        """A bound was exceeded: report and leave at once (blocked threads cannot be joined)."""
        print(f"FAIL (seed {self.args.seed}): hang: {what}", flush=True)
        for err in self.errors:
            print(err, flush=True)
        print("main interpreter's threads:", flush=True)
        faulthandler.dump_traceback(sys.stdout, all_threads=True)
        sys.stdout.flush()
        os._exit(1)

    # --- the check -------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Every item sent exactly once received, no refused item received; return the failures."""
        P = self.args.producers
        failures = list(self.errors)
        offsets, total = [], 0
        for pid in range(P):
            offsets.append(total)
            total += len(self.status.get(pid, b""))
        counts = bytearray(total)
        bogus = []
        for cid in sorted(self.received):
            items = array("Q")
            items.frombytes(self.received[cid])
            for item in items:
                pid, seq = item >> w.SEQ_BITS, item & w.SEQ_MASK
                if pid >= P or seq >= len(self.status.get(pid, b"")):
                    bogus.append(item)
                    continue
                i = offsets[pid] + seq
                if counts[i] < 255:
                    counts[i] += 1
        statuses = b"".join(self.status.get(pid, b"") for pid in range(P))
        # What each attempt should have been received: once if sent, never if refused.
        expected = statuses.translate(bytes(1 if b == w.SENT else 0 for b in range(256)))
        lost: list[tuple[int, int]] = []
        duplicated: list[tuple[int, int, int]] = []
        refused_received: list[tuple[int, int, int]] = []
        unattempted: list[tuple[int, int, int]] = []
        if bytes(counts) != expected:
            for pid in range(P):
                status = self.status.get(pid, b"")
                base = offsets[pid]
                for seq, code in enumerate(status):
                    got = counts[base + seq]
                    if code == w.SENT:
                        if got == 0:
                            lost.append((pid, seq))
                        elif got > 1:
                            duplicated.append((pid, seq, got))
                    elif got:
                        (unattempted if code == 0 else refused_received).append((pid, seq, code))

        def sample(entries: Sequence[tuple[int, ...]], times: bool = False) -> str:
            shown = [f"producer {e[0]} seq {e[1]}" + (f" x{e[2]}" if times else "") for e in entries[:5]]
            return ", ".join(shown) + (", ..." if len(entries) > 5 else "")

        if lost:
            failures.append(f"{fmt(len(lost))} item(s) lost (sent, never received): {sample(lost)}")
        if duplicated:
            failures.append(
                f"{fmt(len(duplicated))} item(s) duplicated (received more than once): "
                f"{sample(duplicated, times=True)}"
            )
        if refused_received:
            kinds = Counter(w.STATUS_NAMES.get(e[2], str(e[2])) for e in refused_received)
            failures.append(
                f"{fmt(len(refused_received))} refused item(s) received anyway "
                f"({dict(kinds)}): {sample(refused_received)}"
            )
        if unattempted:
            failures.append(f"{len(unattempted)} item(s) received but never sent: {sample(unattempted)}")
        if bogus:
            failures.append(f"{len(bogus)} unknown item(s) received: {bogus[:5]}")
        for pid in range(P):
            sent = self.status.get(pid, b"").count(w.SENT)
            if pid not in self.status:
                failures.append(f"producer {pid} never reported")
            elif sent != self.quota[pid]:
                failures.append(f"producer {pid} sent {sent} items, quota {self.quota[pid]}")
        missing = sorted(set(range(self.args.consumers)) - set(self.received))
        if missing:
            failures.append(f"consumers {missing} never reported")
        if self.disorder:
            failures.append("items of one producer received out of order: " + "; ".join(self.disorder[:5]))
        self.statuses = statuses
        return failures

    # --- the summary -----------------------------------------------------------------------------

    def summary(self, elapsed: float, failures: list[str]) -> None:
        args = self.args
        statuses = self.statuses
        moved = statuses.count(w.SENT)
        refused = {name: statuses.count(code) for code, name in w.STATUS_NAMES.items()}
        n_refused = sum(refused.values())
        producer_closes = self.producer_counts["closes"]
        c, pc = self.counts, self.producer_counts
        threads = args.producers + args.consumers
        print(
            f"stress: seed {args.seed}; {args.interpreters} isolated interpreters, "
            f"{args.producers} producers + {args.consumers} consumers on their threads; "
            f"{args.channel_lanes} channel lanes + {args.queue_lanes} queue lanes "
            f"(sizes {', '.join(str(QUEUE_SIZES[j % 4]) for j in range(args.queue_lanes))})"
        )
        print(
            f"  moved     {fmt(moved)} items in {elapsed:.1f} s ({fmt(int(moved / elapsed))}/s):"
            f" {fmt(c['via_channels'])} through channels, {fmt(c['via_queues'])} through queues"
        )
        print(
            f"  refused   {fmt(n_refused)} attempts: "
            + ", ".join(f"{name} {fmt(n)}" for name, n in refused.items())
        )
        print(
            f"  closes    {self.closes_done['main'] + producer_closes} mid-stream "
            f"(main interpreter {self.closes_done['main']}, producer threads {producer_closes}; "
            f"of {len(self.closes)} planned), then the last generation of each of "
            f"{args.channel_lanes + args.queue_lanes} lanes"
        )
        print(
            f"  selects   {fmt(pc['select'] + c['select'])} calls (producers {fmt(pc['select'])},"
            f" consumers {fmt(c['select'])}; {fmt(c['select_closed'])} saw CLOSED)"
        )
        print(
            f"  calls     send/put {fmt(pc['send'])}, *_nowait {fmt(pc['nowait'] + c['nowait'])}"
            f", put_many {fmt(pc['put_many'])}, recv/get {fmt(c['recv'])},"
            f" get_many {fmt(c['get_many'])}; empty receives {fmt(c['empty'])}"
        )
        if failures:
            print(f"FAIL (seed {args.seed}; rerun with --items {args.items} --seed {args.seed}):")
            for failure in failures:
                print(f"  - {failure}")
        else:
            print(
                f"  check     every sent item received exactly once, no refused item received, "
                f"per-producer order kept, all {threads} threads ended"
            )
            print("OK")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.quiet:
        print(f"stress: {fmt(args.items)} items, seed {args.seed}", flush=True)
    run = Run(args)
    run.start()
    t0 = run.control()
    run.close_lanes(final=True)
    run.finished.set()
    run.collect()
    elapsed = time.monotonic() - t0
    failures = run.check()
    run.summary(elapsed, failures)
    sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
