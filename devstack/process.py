"""Run the local stack as a separate process (for tests of peers in other processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from .stack import StackInfo


class DevStackProcess:
    """`python -m devstack --json` in a child process; a context manager.

    ```python
    with DevStackProcess(record_to="relayed.jsonl") as info:
        info.ws_url, info.aws_endpoint_url
    ```
    """

    def __init__(
        self,
        *args: str,
        record_to: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        log_to: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        self._argv = [sys.executable, "-m", "devstack", "--json", *args]
        if record_to is not None:
            self._argv += ["--record", str(record_to)]
        self._env = {**os.environ, **(env or {})}
        self._timeout = timeout
        self._log_to = log_to
        """File for the stack's stderr (its log lines), for audits; else inherited."""
        self._root = Path(root) if root is not None else Path(__file__).resolve().parent.parent
        """The source tree whose stack runs (a benchmark's baseline checkout; else this one)."""
        self._proc: subprocess.Popen[str] | None = None
        self.info: StackInfo | None = None

    def __enter__(self) -> StackInfo:
        root = self._root
        log = open(self._log_to, "a") if self._log_to is not None else None  # noqa: SIM115
        self._proc = subprocess.Popen(
            self._argv, cwd=root, env=self._env, stdout=subprocess.PIPE, text=True, stderr=log
        )
        if log is not None:
            log.close()  # the child holds its own descriptor
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(self._timeout)
            raise RuntimeError(f"devstack exited with {self._proc.returncode} before it was ready")
        self.info = StackInfo(**json.loads(line))
        return self.info

    @property
    def pid(self) -> int:
        """The stack process's id (moto and the Lambda workers are its children)."""
        assert self._proc is not None, "not started"
        return self._proc.pid

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(self._timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
