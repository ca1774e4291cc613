"""Shared output of the bench scripts: a section in docs/benchmarks.md and SUMMARY lines."""

from __future__ import annotations

import json
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
_HEAD = "# Benchmarks\n\nFigures measured by `make bench` (each script rewrites its own section).\n"


def machine() -> str:
    import os

    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores"


def write_section(name: str, markdown: str) -> None:
    """Replace the section between `<!-- name -->` markers, or append it."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f"<!-- {name} -->\n{markdown.strip()}\n\n"
        f"_Measured {stamp} on {machine()}._\n<!-- /{name} -->"
    )
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else _HEAD
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text)
    else:
        text = f"{text.rstrip()}\n\n{body}\n"
    BENCHMARKS.write_text(text)


def summary(metric: str, value: float, target: float | None, higher_is_better: bool) -> None:
    """One comparable line per headline figure."""
    print("SUMMARY " + json.dumps({
        "metric": metric, "value": float(f"{value:.4g}"), "target": target,
        "higher_is_better": higher_is_better,
    }))
