"""An offer made ahead of the receiver's `ready` (#14: setup time).

The sender's connection, data channel and ICE gathering (host candidates, and a STUN
or TURN round trip where servers are configured) can be made before the receiver asks
for them, so the offer leaves the moment its `ready` arrives. The sender makes one when
it joins its room, and again when a receiver arrives (the relay's `peer-joined`) if the
one it holds is no longer fresh. A 2.3 receiver (protocol.md Revision 2.3) sends its
`ready` right after its `hello`, so its `peer-joined` no longer comes a relay hop ahead
of it (on AWS it may come after it): the offer made at the start is the one a receiver
arriving soon gets.

`OfferAhead` holds at most one such offer. The next attempt takes it when it was made
with the very same `IceSettings` (renewed TURN credentials make new settings) and is
fresh; anything else is closed and the attempt makes its offer as before. The age limit
keeps a server-reflexive candidate from outliving its NAT binding: a receiver arriving
later than that gets an offer made at its `peer-joined` (when that comes before its
`ready`), else one made for its attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from .channel import PipeOptions, PreparedOffer, prepare_offer
from .ice import IceSettings

logger = logging.getLogger(__name__)

MAX_AGE_SECONDS = 15.0
"""A prepared offer older than this is not used (well inside common UDP NAT timeouts)."""


class OfferAhead:
    """At most one offer prepared ahead of an attempt (see the module docstring)."""

    def __init__(self, options: PipeOptions | None = None,
                 max_age: float = MAX_AGE_SECONDS) -> None:
        self._options = options or PipeOptions()
        self._max_age = max_age
        self._task: asyncio.Task[PreparedOffer] | None = None
        self.prepared = 0
        """Offers prepared (tests, logs)."""
        self.used = 0
        """...and handed to an attempt."""

    def prepare(self, settings: IceSettings) -> None:
        """Start preparing an offer with `settings`, replacing one held."""
        self._discard(self._task)
        self._task = asyncio.ensure_future(prepare_offer(settings, self._options))
        self.prepared += 1

    def refresh(self, settings: IceSettings) -> None:
        """Prepare an offer with `settings` unless one is held (or being made) with them
        that is still usable for half its age limit: a receiver's `ready` may come the
        moment it arrives (protocol.md Revision 2.3), and replacing a good offer then
        would put its making back on the path."""
        task = self._task
        if task is not None and not task.done():
            return
        if task is not None and not task.cancelled() and task.exception() is None:
            offer = task.result()
            if (offer.settings is settings and offer.usable
                    and time.monotonic() - offer.created < self._max_age / 2):
                return
        self.prepare(settings)

    async def take(self, settings: IceSettings) -> PreparedOffer | None:
        """The held offer if it suits an attempt with `settings` (waiting for it to be
        ready if it is still being made); None otherwise (the attempt makes its own)."""
        task, self._task = self._task, None
        if task is None:
            return None
        try:
            offer = await asyncio.shield(task)
        except asyncio.CancelledError:
            self._discard(task)
            raise
        except Exception as exc:  # its own attempt will tell, if the cause persists
            logger.info("the offer made ahead failed: %s", exc)
            return None
        if (offer.settings is not settings or not offer.usable
                or time.monotonic() - offer.created > self._max_age):
            await offer.close()
            return None
        self.used += 1
        return offer

    async def aclose(self) -> None:
        """Close a held offer (the session ends)."""
        task, self._task = self._task, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            offer = await task
            await offer.close()

    def _discard(self, task: asyncio.Task[PreparedOffer] | None) -> None:
        if task is not None:
            asyncio.ensure_future(self._close_task(task))

    @staticmethod
    async def _close_task(task: asyncio.Task[PreparedOffer]) -> None:
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await (await task).close()
