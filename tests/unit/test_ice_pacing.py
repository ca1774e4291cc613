"""No idle pacing interval after aioice's last check (`transfer_core.webrtc.ice_pacing`).

Two real aioice `Connection`s pair over 127.0.0.1 (host candidates only), with and
without the adapter; the pin tests fail loudly when aioice changes: the adapter relies
on private names and on the shape of the methods below, re-read them before updating
the hashes. Setup speed is measured in bench/bench_p2p.py, never here.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import pytest
from aioice.ice import CandidatePair, Connection

from tests.unit.pins import source_digest
from transfer_core.webrtc import ice_pacing
from transfer_core.webrtc.ice_pacing import PINNED_AIOICE, install_eager_check_end

from .aioice_pair import connected_pair

# sha256 (first 16 hex digits) of `inspect.getsource` of each aioice method the adapter
# depends on, as reviewed for aioice 0.13.0: `connect` loops on `_check_periodic()`
# with a 20 ms sleep while it returns True, then awaits `_check_list_state`;
# `_check_periodic` starts a Waiting, else a Frozen pair's check, else answers
# `_remote_candidates_expected()`; `check_start_task` gives a pair its check task once.
PINNED_SOURCES = {
    "connect": "da51be46190141ee",
    "_check_periodic": "ce421a512904f981",
    "_remote_candidates_expected": "198a141bcd262d13",
    "check_start_task": "eb605c47cf891be8",
}


def _source_hash(name: str) -> str:
    return source_digest(Connection, name)


def test_aioice_is_the_pinned_release() -> None:
    assert version("aioice") == PINNED_AIOICE, (
        f"aioice {version('aioice')} is installed but the ICE pacing adapter was checked"
        f" against {PINNED_AIOICE}: review transfer_core/webrtc/ice_pacing.py against the"
        " new Connection.connect, then update PINNED_AIOICE and PINNED_SOURCES"
    )
    assert ice_pacing.supported()


@pytest.mark.parametrize("name", sorted(PINNED_SOURCES))
def test_aioice_methods_the_adapter_relies_on_are_unchanged(name: str) -> None:
    assert _source_hash(name) == PINNED_SOURCES[name], (
        f"aioice's Connection.{name} changed: review ice_pacing.py against it"
    )


async def _pair(eager: bool) -> tuple[Connection, Connection, list[bool]]:
    """Two connected aioice connections; the controlling one's `_check_periodic`
    answers, in order, in the returned list."""
    answers: list[bool] = []

    def prepare(controlling: Connection, _: Connection) -> None:
        if eager:
            assert install_eager_check_end(controlling)
            assert install_eager_check_end(controlling)  # idempotent: one wrapper
        periodic = controlling._check_periodic

        def recording() -> bool:
            answers.append(periodic())
            return answers[-1]

        controlling._check_periodic = recording  # type: ignore[method-assign]

    controlling, controlled = await connected_pair(prepare)
    return controlling, controlled, answers


@pytest.mark.parametrize("eager", [False, True])
async def test_the_last_check_ends_pacing_at_once_and_ice_completes(eager: bool) -> None:
    controlling, controlled, answers = await _pair(eager)
    try:
        pairs = controlling._check_list
        assert all(p.state not in (CandidatePair.State.WAITING, CandidatePair.State.FROZEN)
                   for p in pairs)
        assert any(p.nominated and p.state == CandidatePair.State.SUCCEEDED for p in pairs)
        started = len(pairs)  # one check started per pair, each answered True by aioice
        # aioice asks once more (20 ms later) to learn nothing is left; the adapter
        # answers False with the last check it starts
        assert answers == [True] * (started - 1) + ([False] if eager else [True, False])
        await controlling.send(b"ping")
        assert await asyncio.wait_for(controlled.recv(), 10) == b"ping"
    finally:
        await controlling.close()
        await controlled.close()


def test_nothing_is_installed_without_a_connection_or_on_another_aioice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not install_eager_check_end(None)
    monkeypatch.setattr(ice_pacing, "PINNED_AIOICE", "0.0.0")
    connection = Connection(ice_controlling=True, components=1)
    assert not install_eager_check_end(connection)
    assert "_check_periodic" not in vars(connection)
