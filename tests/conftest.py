"""Test-suite layout for `pytest -n 2 --dist loadgroup` (`make test`).

The suite runs on two workers. What shares a costly fixture stays on one worker:
every browser test (one local stack and one Chromium for the session), every lab
test (one network lab and its internet side), and each other module (its own
module-scoped stack or synthesised template). Unit tests go wherever a worker is
free.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SHARED_BY_AREA = {"browser", "lab"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
        area = parts[0]
        if area == "unit":
            continue
        group = area if area in SHARED_BY_AREA else "/".join(parts)
        item.add_marker(pytest.mark.xdist_group(group))
