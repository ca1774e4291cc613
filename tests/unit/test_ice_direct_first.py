"""`transfer_core.webrtc.ice_direct_first`: the controlling side holds a relayed pair's
check back while a direct pair may still succeed. The lab's path tests
(tests/lab/test_browser_paths.py, test_paths.py) check the paths real peers take."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aioice.ice import CandidatePair, Connection

from tests.unit.pins import assert_unchanged
from transfer_core.webrtc import ice_direct_first
from transfer_core.webrtc.ice_direct_first import install_direct_first, relayed

# sha256 (first 16 hex digits) of the aioice source this adapter relies on: checks start
# through `check_start` (from `check_start_task`, once per pair), and a nominated pair
# removes the pairs not yet checked, cancelling their tasks
PINNED_SOURCES = {
    "check_start": "7de056d252f46a15",
    "check_start_task": "eb605c47cf891be8",
    "_check_periodic": "ce421a512904f981",
    "check_complete": "52f939709eabc0ab",
}


def test_aioice_sources_are_unchanged() -> None:
    assert_unchanged(Connection, PINNED_SOURCES, "ice_direct_first.py")


def _pair(local: str, remote: str) -> Any:
    return SimpleNamespace(local_candidate=SimpleNamespace(type=local),
                           remote_candidate=SimpleNamespace(type=remote),
                           state=CandidatePair.State.WAITING)


def _connection(pairs: list[Any], controlling: bool = True) -> Any:
    started: list[tuple[Any, float]] = []

    async def check_start(pair: Any) -> None:
        started.append((pair, asyncio.get_running_loop().time()))

    connection = SimpleNamespace(_check_list=pairs, ice_controlling=controlling,
                                 check_start=check_start, started=started)
    assert install_direct_first(connection)  # type: ignore[arg-type]
    return connection


def test_a_pair_is_relayed_if_either_side_is_a_relay() -> None:
    assert relayed(_pair("host", "relay")) and relayed(_pair("relay", "srflx"))
    assert not relayed(_pair("host", "srflx")) and not relayed(_pair("prflx", "host"))


async def test_a_relayed_check_waits_until_the_direct_pairs_have_failed(monkeypatch) -> None:
    monkeypatch.setattr(ice_direct_first, "DIRECT_FIRST_SECONDS", 5.0)
    direct, relay = _pair("host", "srflx"), _pair("host", "relay")
    connection = _connection([direct, relay])
    begun = asyncio.get_running_loop().time()
    await connection.check_start(direct)
    held = asyncio.ensure_future(connection.check_start(relay))
    await asyncio.sleep(0.2)
    assert [p for p, _ in connection.started] == [direct]  # the relayed one waits
    direct.state = CandidatePair.State.FAILED
    await asyncio.wait_for(held, 1)
    assert [p for p, _ in connection.started] == [direct, relay]
    assert connection.started[1][1] - begun < 1  # not the whole grace


async def test_a_relayed_check_waits_no_longer_than_the_grace(monkeypatch) -> None:
    monkeypatch.setattr(ice_direct_first, "DIRECT_FIRST_SECONDS", 0.3)
    direct, relay = _pair("host", "srflx"), _pair("relay", "host")
    connection = _connection([direct, relay])
    begun = asyncio.get_running_loop().time()
    await asyncio.wait_for(connection.check_start(relay), 2)  # the direct pair never ends
    assert connection.started[0][1] - begun >= 0.25


async def test_no_wait_when_controlled_or_when_every_pair_is_relayed(monkeypatch) -> None:
    monkeypatch.setattr(ice_direct_first, "DIRECT_FIRST_SECONDS", 5.0)
    relay = _pair("host", "relay")
    controlled = _connection([_pair("host", "srflx"), relay], controlling=False)
    await asyncio.wait_for(controlled.check_start(relay), 0.5)
    relay_only = _connection([relay, _pair("relay", "relay")])
    await asyncio.wait_for(relay_only.check_start(relay), 0.5)
