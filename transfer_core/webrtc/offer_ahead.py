"""An offer made ahead of the receiver's `ready` (#14: setup time).

A receiver's arrival reaches the sender (the relay's `peer-joined`) one relay hop
before its `ready` does: the receiver sends `ready` only once its own `welcome` is
back. The sender's connection, data channel and ICE gathering (host candidates, and a
STUN or TURN round trip where servers are configured) can be made in that hop, so the
offer leaves the moment the `ready` arrives.

`OfferAhead` holds at most one such offer. The next attempt takes it when it was made
with the very same `IceSettings` (renewed TURN credentials make new settings) and is
fresh; anything else is closed and the attempt makes its offer as before. The age limit
keeps a server-reflexive candidate from outliving its NAT binding: the offer is meant to
live for one relay hop, not for a sender's wait.
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
