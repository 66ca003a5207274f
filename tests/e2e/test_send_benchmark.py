"""``benchmarks/send.py`` at a few emails: it runs end to end on SQLite and passes its own checks,
and those checks catch a message missing or received twice."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "send.py"
# Loaded by path: benchmarks/ is not a package, and putting it on sys.path would let
# benchmarks/planner.py shadow the planner package.
_spec = importlib.util.spec_from_file_location("bench_send", SCRIPT)
bench = sys.modules["bench_send"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up there
_spec.loader.exec_module(bench)


def test_the_send_benchmark_delivers_every_email_once_on_both_sides():
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--emails", "20",
                           "--concurrency", "4"], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 of 20 outreaches sent" in done.stdout and "every outreach sent once" in done.stdout
    assert "bare aiosmtplib" in done.stdout and "service / bare" in done.stdout


def test_the_send_benchmark_runs_each_side_in_two_processes():
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--emails", "21", "--concurrency", "3", "--batch", "4",
                           "--processes", "2"], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    # Both processes' shares went out once each, and the bare loop ran in one process and in two.
    assert "21 of 21 outreaches sent" in done.stdout and "every outreach sent once" in done.stdout
    assert "bare aiosmtplib x1" in done.stdout and "bare aiosmtplib x2" in done.stdout
    assert "service x2" in done.stdout and "<- the baseline" in done.stdout


def test_the_work_splits_into_even_contiguous_shares():
    assert bench.split(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert bench.split([1, 2], 2) == [[1], [2]] and bench.split([], 2) == [[], []]


def test_the_benchmark_check_refuses_a_missing_or_repeated_message():
    want = ["<a@x>", "<b@x>", "<c@x>"]
    assert bench.check_received("service", want, (3, ["<c@x>", "<a@x>", "<b@x>"])) == []
    twice = bench.check_received("service", want, (3, ["<a@x>", "<a@x>", "<b@x>"]))
    assert twice == ["service: 1 expected Message-IDs missing, 1 received more than once"]
    short = bench.check_received("bare", want, (2, ["<a@x>", "<b@x>"]))
    assert short[0] == "bare: the server accepted 2 messages, expected 3" and len(short) == 2
