from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.process import DevStackProcess
from devstack.stack import StackInfo

MAX_RECEIVERS = 3


@dataclass
class Stack:
    """A local stack running in its own process."""

    info: StackInfo
    record: Path
    """JSON lines: every frame the gateway relayed."""

    @property
    def url(self) -> str:
        return self.info.ws_url


@contextmanager
def recording_stack(tmp_path_factory, env: dict[str, str]) -> Iterator[Stack]:
    """A local stack in its own process with `env`, recording every frame it relays."""
    record = tmp_path_factory.mktemp("stack") / "relayed.jsonl"
    with DevStackProcess(record_to=record, env=env) as info:
        yield Stack(info, record)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # three receiver slots: `send --receivers 3` (#15); one-receiver tests are unaffected
    with recording_stack(tmp_path_factory, {"MAX_RECEIVERS": str(MAX_RECEIVERS)}) as running:
        yield running


@pytest.fixture(autouse=True)
def sender_state_dir(tmp_path, monkeypatch):
    """Senders keep their resume state (manifest, receiver's last `have`) per test."""
    monkeypatch.setenv("SGRAPH_SEND_STATE_DIR", str(tmp_path / "sender-state"))
