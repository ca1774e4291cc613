"""bench/load_signalling.py runs against a running stack by its page address and stops itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import recording_stack
from .peers import ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """This module's own stack, its per-address connect limit lifted as the benchmark
    lifts it on the stack it starts: on a quick machine the generator opens more than
    the default 60 connects a minute in its 3 s (31 rooms, 62 connects, 9 refused with
    429 in one run), and how many it opens depends on the machine, not on the code."""
    with recording_stack(tmp_path_factory, {"CONNECT_RATE_PER_MINUTE": "1000000"}) as running:
        yield running


def test_the_load_generator_is_bounded_and_reports(stack) -> None:
    # it stops by itself: the generous subprocess timeout is only a backstop
    run = subprocess.run(
        [sys.executable, "bench/load_signalling.py", "--server", stack.info.web_url,
         "--rooms", "2", "--seconds", "3", "--messages", "2", "--timeout", "60"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"against {stack.url}" in run.stdout  # found from the page's config.json
    assert "| setup p50 / p99 |" in run.stdout and "| relayed latency p50 / p99 |" in run.stdout
    summaries = {json.loads(line[8:])["metric"]: json.loads(line[8:])["value"]
                 for line in run.stdout.splitlines() if line.startswith("SUMMARY ")}
    assert set(summaries) == {"load_setup_p99_ms", "load_relay_latency_p99_ms",
                              "load_rooms_per_second", "load_errors"}
    # every room set up and relayed: a generator whose connects all fail reports only errors
    assert summaries["load_errors"] == 0, run.stdout[-3000:]
    assert summaries["load_rooms_per_second"] > 0
