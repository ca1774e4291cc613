"""Test-suite layout for `pytest -n 2 --dist loadgroup` (`make test`).

The suite runs on two workers. What shares a costly fixture stays on one worker:
every browser test (one local stack and one Chromium for the session), every lab
test (one network lab and its internet side), and each other module (its own
module-scoped stack or synthesised template). Unit tests go wherever a worker is
free.

The scheduler below groups by path itself: xdist 3.8 passes a test's `xdist_group` to
its scheduler by appending it to the test's node id, which pytest 9.2 no longer lets it
change (pytest-dev/pytest-xdist#1386), so every test became a group of its own and each
worker started every module's stack, and the browser session, for itself. It also hands
out the groups in `STARTED_FIRST` before the rest: xdist orders groups by their number
of tests, so a long group of one test (the 2 GiB transfer) would start last, with the
other worker idle beside it at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
SHARED_BY_AREA = {"browser", "lab"}
STARTED_FIRST = ("e2e/test_big_tree.py", "browser")
"""The longest groups, longest first (`--durations`): each starts on a worker of its own."""


def group_of(parts: tuple[str, ...]) -> str | None:
    """The group of a test file, by its path under tests/ (None: a unit test, no group)."""
    area = parts[0]
    if area == "unit":
        return None
    return area if area in SHARED_BY_AREA else "/".join(parts)


# before xdist's own hook, which reads the marks (where pytest lets it use them)
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = group_of(Path(str(item.path)).resolve().relative_to(TESTS).parts)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: known only where it is loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    rootdir = config.rootpath

    class ByPathLongestFirst(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = (rootdir / nodeid.split("::", 1)[0]).resolve()
            if not path.is_relative_to(TESTS):
                return str(super()._split_scope(nodeid))
            return group_of(path.relative_to(TESTS).parts) or nodeid

        def _assign_work_unit(self, node: Any) -> None:
            for group in reversed(STARTED_FIRST):
                if group in self.workqueue:
                    self.workqueue.move_to_end(group, last=False)
            super()._assign_work_unit(node)

    return ByPathLongestFirst(config, log)
