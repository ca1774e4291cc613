"""What one Lambda instance knows of each client address's open connections.

The concurrent-connection cap (docs/signalling.md §3) costs no DynamoDB write of
its own: connections this instance admitted wait here (`pending`) and ride on the
next write of the address's record, the same batched `UpdateItem` that carries
the connect rate count. That write answers with every connection the record
holds (`saw`), which is this instance's view until its next write. Plain Python,
no I/O: the service decides when to write and when to ask which are closed.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Addresses remembered per instance; the oldest are forgotten past this (a busy
#: instance sees many addresses a day, and each address's hash changes daily).
MAX_CLIENTS = 4096


class LiveConnections:
    """Per client hash: connections admitted here and not yet recorded, and the last view."""

    def __init__(self, max_clients: int = MAX_CLIENTS) -> None:
        self._max_clients = max_clients
        self._pending: dict[str, dict[str, int]] = {}
        """client -> {connection id: expiry} admitted here since this instance's last write."""
        self._view: dict[str, dict[str, int]] = {}
        """client -> {connection id: expiry}: what the record held at our last write."""
        self._closed: dict[str, set[str]] = {}
        """client -> ids of the view found closed, to remove at the next write."""

    def admitted(self, client: str, connection_id: str, expires_at: int) -> None:
        """A connection from `client` is being admitted here; record it with the next write."""
        self._touch(client)
        self._pending.setdefault(client, {})[connection_id] = expires_at

    def is_pending(self, client: str, connection_id: str) -> bool:
        """Whether the connection still waits for a write of the record."""
        return connection_id in self._pending.get(client, {})

    def never_opened(self, client: str, connection_id: str) -> None:
        """The attempt was refused: drop it, and forget it at the next write if it was written."""
        self._pending.get(client, {}).pop(connection_id, None)
        self.found_closed(client, [connection_id])

    def pending(self, client: str) -> int:
        """How many admitted connections wait for the next write."""
        return len(self._pending.get(client, {}))

    def open_ids(self, client: str, now: int) -> set[str]:
        """The connections believed open: the view and the pending, less the expired
        and those found closed. An over-estimate until `found_closed` prunes it."""
        known = {**self._view.get(client, {}), **self._pending.get(client, {})}
        closed = self._closed.get(client, set())
        return {cid for cid, expiry in known.items() if expiry >= now and cid not in closed}

    def take(self, client: str, now: int) -> tuple[dict[str, int], set[str]]:
        """What the next write carries: the pending connections, and the ids to forget
        (found closed, or expired: API Gateway closes every connection within 2 h)."""
        admitted = self._pending.pop(client, {})
        gone = set(self._closed.pop(client, set()))
        gone.update(cid for cid, expiry in self._view.get(client, {}).items() if expiry < now)
        return admitted, gone

    def saw(self, client: str, connections: dict[str, int]) -> None:
        """The record as our write left it (every instance's connections)."""
        self._touch(client)
        self._view[client] = dict(connections)

    def found_closed(self, client: str, connection_ids: Iterable[str]) -> None:
        """These connections are closed: stop counting them; forget them at the next write."""
        self._closed.setdefault(client, set()).update(connection_ids)

    def _touch(self, client: str) -> None:
        if client in self._view or client in self._pending:
            return
        while len(self._view.keys() | self._pending.keys()) >= self._max_clients:
            oldest = next(iter(self._view), None) or next(iter(self._pending))
            self._view.pop(oldest, None)
            self._pending.pop(oldest, None)
            self._closed.pop(oldest, None)
