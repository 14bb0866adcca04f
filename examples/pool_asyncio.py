"""An asyncio web-crawler-shaped program: an event loop hands CPU-bound work to a pool of
isolated interpreters and streams results through a queue, without ever blocking the loop.

    python examples/pool_asyncio.py

- `loop.run_in_executor(pool, ...)` runs pure-Python work on every core (each worker is an
  interpreter with its own GIL);
- workers also push progress notes into an `si.Queue`, which the loop reads with `get_async()`
  while the work runs (no thread waits for it);
- a ticker coroutine shows the loop stays responsive throughout.
"""

from __future__ import annotations

import asyncio
import os
import time

import subinterpreters as si


def count_primes(limit: int, progress: si.Queue) -> int:
    """Pure Python and CPU-bound: the kind of work threads cannot run in parallel."""
    count = 0
    for n in range(2, limit):
        if all(n % d for d in range(2, int(n**0.5) + 1)):
            count += 1
    progress.put(f"primes below {limit:,}: {count:,} (interpreter {si.get_current().id})")
    return count


async def main() -> None:
    loop = asyncio.get_running_loop()
    progress = si.create_queue()
    limits = [60_000, 70_000, 80_000, 90_000]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def reporter() -> None:
        for _ in limits:
            print("  progress:", await progress.get_async(timeout=60))

    workers = os.cpu_count() or 2
    started = time.perf_counter()
    with si.InterpreterPoolExecutor(workers) as pool:
        tick_task = asyncio.create_task(ticker())
        report_task = asyncio.create_task(reporter())
        counts = await asyncio.gather(
            *(loop.run_in_executor(pool, count_primes, n, progress) for n in limits)
        )
        await report_task
        tick_task.cancel()
    elapsed = time.perf_counter() - started
    print(f"counts {counts} in {elapsed:.2f} s on {workers} worker interpreters;")
    print(f"the event loop ticked {ticks} times meanwhile (it never blocked)")


if __name__ == "__main__":
    asyncio.run(main())
