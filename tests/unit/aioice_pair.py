"""Two real aioice `Connection`s paired over 127.0.0.1 (host candidates only), for the
tests of the adapters over aioice (ice_pacing, ice_consent)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aioice.ice import Connection

from transfer_core.webrtc.ice import loopback_gathering


async def connected_pair(
    prepare: Callable[[Connection, Connection], None] | None = None,
) -> tuple[Connection, Connection]:
    """(controlling, controlled), connected; `prepare` runs on both before `connect`."""
    controlling = Connection(ice_controlling=True, components=1)
    controlled = Connection(ice_controlling=False, components=1)
    with loopback_gathering():
        await controlling.gather_candidates()
        await controlled.gather_candidates()
    for a, b in ((controlling, controlled), (controlled, controlling)):
        for candidate in b.local_candidates:
            await a.add_remote_candidate(candidate)
        await a.add_remote_candidate(None)
        a.remote_username, a.remote_password = b.local_username, b.local_password
    if prepare is not None:
        prepare(controlling, controlled)
    async with asyncio.timeout(20):
        await asyncio.gather(controlling.connect(), controlled.connect())
    return controlling, controlled
