"""The stress suite (stress/run.py, `make stress`: 10^6 items) in short: 20,000 items moved by 8
producers and 8 consumers on threads of 4 isolated interpreters, through channels and queues, with
random timeouts, *_nowait calls, select and closes in mid-stream; then every item sent is received
exactly once, no refused one is received, and no thread is left blocked. Once with a fixed seed and
once with a random one (printed on failure), plus one run per injected fault (a lost item, a
duplicated item, a blocked thread) showing the checker catches it.

Each run is a fresh process (the program exits at once on a hang, without joining)."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from helpers import details, run_python

STRESS = Path(__file__).resolve().parent.parent / "stress" / "run.py"
ITEMS = 20_000
FIXED_SEED = 20240611


def stress(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return run_python(str(STRESS), "--quiet", *args, timeout=timeout, what=f"stress {args}")


@pytest.mark.parametrize(
    "seed", [FIXED_SEED, random.SystemRandom().randrange(1, 2**31)], ids=["fixed-seed", "random-seed"]
)
def test_short_stress_accounts_for_every_item(seed: int) -> None:
    proc = stress("--items", str(ITEMS), "--seed", str(seed))
    assert proc.returncode == 0, f"seed {seed}: " + details(proc)
    out = proc.stdout
    assert out.rstrip().endswith("OK"), details(proc)
    assert f"moved     {ITEMS:,} items" in out, details(proc)
    assert "Fatal Python error" not in proc.stderr, details(proc)
    # The run really exercised the paths it claims to: refusals, closes and selects happened.
    assert "refused   0 " not in out and "selects   0 " not in out, details(proc)
    assert " 0 mid-stream" not in out, details(proc)


def test_checker_catches_a_lost_item() -> None:
    proc = stress("--items", "5000", "--seed", str(FIXED_SEED), "--inject-loss")
    assert proc.returncode == 1, details(proc)
    assert "1 item(s) lost (sent, never received): producer " in proc.stdout, details(proc)
    assert "duplicated" not in proc.stdout and "OK" not in proc.stdout.split(), details(proc)


def test_checker_catches_a_duplicated_item() -> None:
    proc = stress("--items", "5000", "--seed", str(FIXED_SEED), "--inject-duplicate")
    assert proc.returncode == 1, details(proc)
    assert "1 item(s) duplicated (received more than once): producer " in proc.stdout, details(proc)
    assert "lost" not in proc.stdout, details(proc)


def test_checker_catches_a_blocked_thread() -> None:
    proc = stress("--items", "5000", "--seed", str(FIXED_SEED), "--inject-hang", "--join-timeout", "2")
    assert proc.returncode == 1, details(proc)
    assert "hang: threads still blocked 2 s after the last close: consumer 0" in proc.stdout, details(proc)
    assert "Fatal Python error" not in proc.stderr, details(proc)
