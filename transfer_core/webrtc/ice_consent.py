"""Consent freshness that a busy or distant peer keeps (RFC 7675), over aioice.

aioice 0.13.0's `Connection.query_consent` sends a binding request about every 5 s,
never retransmitted, and counts it failed when no answer is back within STUN's first
RTO, 0.5 s; six failures in a row close the connection. RFC 7675 §5.1 lets consent
expire only when no answer to any check sent in the last 30 s has come. The 0.5 s is
what hurts: an answer queues in the checking peer's UDP socket behind the DATA packets
in flight (up to the SCTP receive window, about 1 MB), so a receiver that takes longer
than 0.5 s to drain that window (a loaded machine, a slow disk, a phone, a bloated
buffer on a real path) sees every check "fail", and 30 s later drops a connection that
was moving data all along. The e2e tests saw exactly that under load: "Consent to send
expired" in the middle of a transfer, then a reconnect.

`install_patient_consent` shadows `query_consent` on one aioice `Connection` (an
instance attribute; aioice starts the task from `connect`). The checks are aioice's
own requests, at aioice's randomised interval, each a task of its own that keeps
listening for its answer (STUN retransmissions, RTO doubling, `CHECK_RETRANSMISSIONS`:
about 31 s) while the next ones are sent; an answer to any of them refreshes consent.
Consent expires, and the connection closes as before, when none has been answered for
`CONSENT_EXPIRY` seconds: a peer that is gone is still noticed in 30-36 s.

Pinned to the aioice release it was checked against (`ice_pacing.PINNED_AIOICE`): on
another, it does not install (a warning is logged) and aioice checks as it does;
tests/unit/test_ice_consent.py hashes the methods it relies on.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from aioice import ice as aioice_ice
from aioice.ice import Connection

from .ice_pacing import PINNED_AIOICE, supported

logger = logging.getLogger(__name__)

CONSENT_EXPIRY = 30.0
"""Seconds without an answered check after which consent expires (RFC 7675 §5.1)."""
CHECK_RETRANSMISSIONS = 5
"""A check's STUN retransmissions (RTO 0.5 s doubling): it listens ~31.5 s for its answer."""
_MARK = "_sgraph_send_patient_consent"


def install_patient_consent(connection: Connection | None, *,
                            interval: float | None = None,
                            expiry: float = CONSENT_EXPIRY) -> bool:
    """Shadow `query_consent` on `connection` (idempotent); False when nothing was
    installed (no connection, or another aioice release: logged as a warning).
    `interval` is aioice's `CONSENT_INTERVAL` unless given (the tests shorten both)."""
    if connection is None:
        return False
    if getattr(connection, _MARK, False):
        return True
    if not supported():
        logger.warning("aioice is not %s: consent keeps its 0.5 s answer timeout",
                       PINNED_AIOICE)
        return False

    async def query_consent() -> None:
        assert connection.remote_password is not None
        key = connection.remote_password.encode("utf8")
        loop = asyncio.get_running_loop()
        fresh = loop.time()  # ICE's own checks were answered just now
        checks: set[asyncio.Future[Any]] = set()

        def settled(check: asyncio.Future[Any]) -> None:
            nonlocal fresh
            checks.discard(check)
            # exception() also marks a failed check's error as seen
            if not check.cancelled() and check.exception() is None:
                fresh = loop.time()

        try:
            while True:
                every = aioice_ice.CONSENT_INTERVAL if interval is None else interval
                await asyncio.sleep(every * (0.8 + 0.4 * random.random()))
                if loop.time() - fresh >= expiry:
                    logger.info("consent to send expired: no check answered for %.0f s",
                                loop.time() - fresh)
                    connection._query_consent_task = None
                    await connection.close()
                    return
                for pair in list(connection._nominated.values()):
                    request = connection.build_request(pair, nominate=False)
                    check: asyncio.Future[Any] = asyncio.ensure_future(pair.protocol.request(
                        request, pair.remote_addr, integrity_key=key,
                        retransmissions=CHECK_RETRANSMISSIONS))
                    checks.add(check)
                    check.add_done_callback(settled)
        finally:
            for check in list(checks):
                check.cancel()

    connection.query_consent = query_consent  # type: ignore[method-assign]
    setattr(connection, _MARK, True)
    return True

