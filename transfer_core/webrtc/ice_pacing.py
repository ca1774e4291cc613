"""No idle pacing interval after aioice's last connectivity check (#14: setup time).

aioice's `Connection.connect` paces its checks like RFC 8445's Ta timer: it calls
`_check_periodic()`, which starts the next Waiting or Frozen pair's check, and sleeps
20 ms for as long as that returns True. After the check of the last pair it still
sleeps once before asking again and learning there is nothing left to start; only
then does it wait for the check list's result. With one candidate pair (two peers on
one host or one LAN, or a single relay) the check succeeds in well under 20 ms, and
the controlling side's `connect` (hence DTLS, SCTP, the channel) waits out the rest:
about 15 ms of every setup on the local stack.

`install_eager_check_end` shadows `_check_periodic` on one aioice `Connection` (an
instance attribute): when aioice's own method started a check and no pair is left
Waiting or Frozen without a check task of its own (`check_start_task`) and no remote
candidate is still expected, it answers False at once
instead of on the next call 20 ms later. It never starts, skips or reorders a check:
Ta still separates the checks it starts, a check in progress runs to its end as a
task, and triggered checks and nomination are aioice's as before. A pair that becomes
Waiting later (a trickled candidate) is the case the original loop also leaves to
`_remote_candidates_expected`, which this keeps.

Pinned to the aioice release it was checked against (`PINNED_AIOICE`): on another, it
does not install (a warning is logged) and aioice paces as it does;
tests/unit/test_ice_pacing.py hashes the methods it relies on.
"""

from __future__ import annotations

import logging
from typing import Any

import aioice
from aioice.ice import CandidatePair, Connection

logger = logging.getLogger(__name__)

PINNED_AIOICE = "0.13.0"
"""The aioice release whose `Connection.connect` this adapter was written against."""
_MARK = "_sgraph_send_eager_check_end"
_PENDING = (CandidatePair.State.WAITING, CandidatePair.State.FROZEN)


def supported() -> bool:
    """Whether the installed aioice is the one this adapter was checked against (its
    `__version__`: package metadata costs milliseconds per read, on setup's path)."""
    return aioice.__version__ == PINNED_AIOICE


def install_eager_check_end(connection: Connection | None) -> bool:
    """Shadow `_check_periodic` on `connection` (idempotent); False when nothing was
    installed (no connection, or another aioice release: logged as a warning)."""
    if connection is None:
        return False
    if getattr(connection, _MARK, False):
        return True
    if not supported():
        logger.warning("aioice %s is not %s: ICE keeps its idle 20 ms after the last check",
                       aioice.__version__, PINNED_AIOICE)
        return False
    original = connection._check_periodic

    def check_periodic() -> bool:
        started = original()
        if not started:
            return False
        # aioice started a check (or waits for candidates): go on pacing only if
        # something is left to start or may still arrive
        # (a pair whose check task was just created is still Waiting until it runs)
        return bool(connection._remote_candidates_expected()
                    or any(pair.state in _PENDING and pair.task is None
                           for pair in connection._check_list))

    connection._check_periodic = check_periodic  # type: ignore[method-assign]
    setattr(connection, _MARK, True)
    return True


def ice_connection_of(pc: Any) -> Connection | None:
    """The aioice `Connection` under an aiortc peer connection's SCTP transport."""
    sctp = getattr(pc, "sctp", None)
    if sctp is None:
        return None
    gatherer = sctp.transport.transport.iceGatherer
    connection: Connection = gatherer._connection
    return connection
