"""An offer made ahead of the receiver's `ready` (#14): real aiortc peers, loopback only.

The sender prepares its connection and offer when a receiver arrives; the attempt that
follows uses it only with the same ICE settings, while fresh and not failed. Setup
speed is measured in bench/bench_p2p.py, never here.
"""

from __future__ import annotations

import asyncio
import multiprocessing

import pytest

from transfer_core.webrtc import IceSettings, open_as_answerer, open_as_offerer
from transfer_core.webrtc.channel import prepare_offer
from transfer_core.webrtc.offer_ahead import OfferAhead
from transfer_core.webrtc.sctp_pmtu import READS_WHOLE
from transfer_core.webrtc.sdp import with_max_packet
from transfer_core.webrtc.testing import PipeExchange


async def test_a_prepared_offer_opens_a_working_channel_and_is_taken_once() -> None:
    settings = IceSettings.local()
    ahead = OfferAhead()
    ahead.prepare(settings)
    prepared = await ahead.take(settings)
    assert prepared is not None and prepared.usable
    assert "a=candidate:" in prepared.sdp and "127.0.0.1" in prepared.sdp
    assert await ahead.take(settings) is None  # one offer, one attempt
    a, b = multiprocessing.Pipe()
    left, right = PipeExchange(a), PipeExchange(b)
    offerer, answerer = await asyncio.gather(
        open_as_offerer(settings, left, timeout=10, prepared=prepared),
        open_as_answerer(settings, right, timeout=10),
    )
    try:
        assert not prepared.usable
        # the offer the answerer applied is the one prepared, not a second one (as sent:
        # with the packet size we read, protocol.md Revision 2.4)
        sent = offerer.peer_connection.localDescription.sdp
        assert with_max_packet(sent, READS_WHOLE) == prepared.sdp
        assert offerer.timing.setup_ms > 0
        await offerer.send(b"ahead")
        assert await answerer.recv() == b"ahead"
        await answerer.send(b"back")
        assert await offerer.recv() == b"back"
        await prepared.close()  # a no-op once used: the pipe stays open
        await offerer.send(b"still")
        assert await answerer.recv() == b"still"
        with pytest.raises(ValueError, match="used or closed"):
            await open_as_offerer(settings, left, timeout=1, prepared=prepared)
    finally:
        await offerer.close()
        await answerer.close()
        left.close()
        right.close()
        assert (ahead.prepared, ahead.used) == (1, 1)


async def test_an_offer_for_other_settings_or_too_old_is_closed_not_used() -> None:
    first, renewed = IceSettings.local(), IceSettings.local()
    ahead = OfferAhead()
    ahead.prepare(first)
    await asyncio.sleep(0)
    assert await ahead.take(renewed) is None  # equal, but not the same settings object
    stale = OfferAhead(max_age=0.0)
    stale.prepare(first)
    assert await stale.take(first) is None
    assert (ahead.used, stale.used) == (0, 0)
    # the one prepared with other settings cannot be forced on an attempt either
    prepared = await prepare_offer(first)
    try:
        with pytest.raises(ValueError, match="settings it was made with"):
            await open_as_offerer(renewed, PipeExchange(multiprocessing.Pipe()[0]),
                                  timeout=1, prepared=prepared)
    finally:
        await prepared.close()
    assert not prepared.usable


async def test_a_newer_arrival_replaces_the_held_offer_and_close_releases_it() -> None:
    settings = IceSettings.local()
    ahead = OfferAhead()
    ahead.prepare(settings)
    ahead.prepare(settings)  # a second arrival: the first offer is closed
    prepared = await ahead.take(settings)
    assert prepared is not None and ahead.prepared == 2
    await prepared.close()
    assert not prepared.usable
    ahead.prepare(settings)
    await ahead.aclose()
    assert await ahead.take(settings) is None


async def test_an_arrival_keeps_a_fresh_offer_and_renews_a_stale_one() -> None:
    # the sender makes its offer when it joins; a receiver's `peer-joined` may come after
    # its `ready` (protocol.md Revision 2.3), so an arrival replaces only what is stale
    settings, renewed = IceSettings.local(), IceSettings.local()
    ahead = OfferAhead()
    ahead.prepare(settings)
    ahead.refresh(settings)  # still being made: kept
    held = await ahead.take(settings)
    assert held is not None and ahead.prepared == 1
    await held.close()
    ahead.refresh(settings)  # nothing held: made
    assert ahead._task is not None
    await asyncio.wait({ahead._task})
    ahead.refresh(settings)  # made and fresh: kept
    assert ahead.prepared == 2
    ahead.refresh(renewed)  # other settings (renewed TURN credentials): made anew
    assert ahead.prepared == 3
    assert await ahead.take(settings) is None  # the one for `renewed` does not serve
    stale = OfferAhead(max_age=0.2)
    stale.prepare(settings)
    first = stale._task
    assert first is not None
    await asyncio.wait({first})
    await asyncio.sleep(0.2)
    stale.refresh(settings)  # past half its age limit: made anew
    assert stale.prepared == 2 and stale._task is not first
    await stale.aclose()
    await ahead.aclose()
