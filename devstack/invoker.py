"""Lambda instances for the local stack: worker processes that run the real handlers.

Each worker (`python -m devstack.worker`) is one warm Lambda instance: it
imports the handler modules once, with the Lambda environment set before
import as in Lambda, and handles one event at a time, so Powertools' module
state is per instance exactly as in Lambda. Requests and responses are JSON
lines over the worker's stdin/stdout; what the handlers log goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from transfer_core.timeouts import within

_ROOT = Path(__file__).resolve().parent.parent


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def call(self, kind: str, event: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"kind": kind, "event": event}).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("Lambda worker exited")
        result: dict[str, Any] = json.loads(line)
        return result


class Invoker:
    """Runs handler invocations on a pool of worker processes (one event at a time each)."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self._env = {**os.environ, **env}
        self._size = workers
        # the most recently used idle worker first, as Lambda reuses a warm instance for
        # invocations that do not overlap: taken in turn, each relay message of a
        # connection met an instance that had to read the connection's item (#14)
        self._idle: asyncio.Queue[_Worker] = asyncio.LifoQueue()
        self._all: list[_Worker] = []

    async def warm(self) -> None:
        """Start every worker; each imports the handlers (the cold starts) before it is ready."""
        procs = await asyncio.gather(
            *(
                asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "devstack.worker",
                    cwd=_ROOT,
                    env=self._env,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=16 * 1024 * 1024,
                )
                for _ in range(self._size)
            )
        )
        for proc in procs:
            worker = _Worker(proc)
            assert proc.stdout is not None
            ready = await proc.stdout.readline()
            if ready.strip() != b"ready":
                raise RuntimeError("Lambda worker failed to start (see stderr)")
            self._all.append(worker)
            self._idle.put_nowait(worker)

    async def invoke(self, kind: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke the handler for `kind` (`connect`, `disconnect`, `relay`) with `event`."""
        worker = await self._idle.get()
        try:
            return await worker.call(kind, event)
        finally:
            self._idle.put_nowait(worker)

    async def close(self) -> None:
        """Stop the workers (closing stdin ends each)."""
        for worker in self._all:
            if worker.proc.stdin is not None:
                worker.proc.stdin.close()
        for worker in self._all:
            try:
                await within(worker.proc.wait(), 5)
            except TimeoutError:
                worker.proc.kill()
                await worker.proc.wait()
