"""Consent freshness a slow peer keeps (`transfer_core.webrtc.ice_consent`).

Two real aioice `Connection`s over 127.0.0.1. The slow peer is a fault injection: its
answers to consent checks leave its socket late (as they do when they queue behind a
receive window of DATA on a loaded machine), which two connections sharing one event
loop cannot otherwise provoke on demand. Intervals are shortened; the pin tests fail
loudly when aioice changes the methods the adapter relies on or replaces.
"""

from __future__ import annotations

import asyncio

import pytest
from aioice import ice as aioice_ice
from aioice import stun
from aioice.ice import Connection, StunProtocol

from tests.unit.pins import source_digest
from transfer_core.webrtc.ice_consent import install_patient_consent

from .aioice_pair import connected_pair

# sha256 (first 16 hex digits) of the aioice 0.13.0 sources the adapter was written
# against: `connect` starts `self.query_consent()` as `_query_consent_task`; `close`
# cancels that task; `query_consent` is what the adapter replaces (same requests, same
# interval); `build_request` and `StunProtocol.request` make and run each check.
PINNED_SOURCES = {
    "Connection.query_consent": "fe49173a650a378a",
    "Connection.build_request": "cd68d42d3765c2d1",
    "Connection.close": "25dcfac536f5f37c",
    "StunProtocol.request": "97991c38f65ea939",
}
_OWNERS = {"Connection": Connection, "StunProtocol": StunProtocol}


def _source_hash(name: str) -> str:
    owner, method = name.split(".")
    return source_digest(_OWNERS[owner], method)


@pytest.mark.parametrize("name", sorted(PINNED_SOURCES))
def test_aioice_methods_the_adapter_relies_on_are_unchanged(name: str) -> None:
    assert _source_hash(name) == PINNED_SOURCES[name], (
        f"aioice's {name} changed: review transfer_core/webrtc/ice_consent.py against it"
    )


def _answer_late(connection: Connection, delay: float | None) -> None:
    """The fault: `connection` sends its STUN answers `delay` s late (None: never)."""
    loop = asyncio.get_running_loop()
    for protocol in connection._protocols:
        send = protocol.send_stun

        def late(message: stun.Message, addr: tuple[str, int], send=send) -> None:
            if message.message_class != stun.Class.RESPONSE:
                send(message, addr)
            elif delay is not None:
                loop.call_later(delay, send, message, addr)

        protocol.send_stun = late  # type: ignore[method-assign]


async def _still_connected(connection: Connection) -> bool:
    try:
        await connection.send(b"still here")
    except ConnectionError:
        return False
    return True


@pytest.mark.parametrize("patient", [False, True])
async def test_answers_later_than_half_a_second_keep_consent_only_with_the_adapter(
    patient: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aioice: six failures in a row, each a 0.1 s wait then a 0.5 s timeout: ≈ 3.6 s
    monkeypatch.setattr(aioice_ice, "CONSENT_INTERVAL", 0.1)

    def prepare(controlling: Connection, _: Connection) -> None:
        if patient:
            assert install_patient_consent(controlling, expiry=3.0)
            assert install_patient_consent(controlling, expiry=3.0)  # idempotent

    controlling, controlled = await connected_pair(prepare)
    try:
        _answer_late(controlled, 0.8)  # every answer 0.8 s late: over aioice's 0.5 s
        if patient:
            await asyncio.sleep(6.5)  # over twice the adapter's expiry
            assert await _still_connected(controlling)
            assert await asyncio.wait_for(controlled.recv(), 5) == b"still here"
        else:
            for _ in range(300):  # ≈ 3.6 s, longer on a loaded machine
                if not await _still_connected(controlling):
                    break
                await asyncio.sleep(0.1)
            assert not await _still_connected(controlling)
    finally:
        await controlling.close()
        await controlled.close()


async def test_a_peer_that_never_answers_still_loses_consent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aioice_ice, "CONSENT_INTERVAL", 0.1)

    def prepare(controlling: Connection, _: Connection) -> None:
        assert install_patient_consent(controlling, expiry=1.0)

    controlling, controlled = await connected_pair(prepare)
    try:
        _answer_late(controlled, None)
        assert await _still_connected(controlling)
        await asyncio.sleep(2.0)
        assert not await _still_connected(controlling)
        assert controlling._query_consent_task is None
    finally:
        await controlling.close()
        await controlled.close()


def test_nothing_is_installed_without_a_connection_or_on_another_aioice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from transfer_core.webrtc import ice_pacing

    assert not install_patient_consent(None)
    monkeypatch.setattr(ice_pacing, "PINNED_AIOICE", "0.0.0")
    connection = Connection(ice_controlling=True, components=1)
    assert not install_patient_consent(connection)
    assert "query_consent" not in vars(connection)
