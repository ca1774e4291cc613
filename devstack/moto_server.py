"""Child process of `MotoBackend`: moto's server on 127.0.0.1, counting DynamoDB calls."""

from __future__ import annotations

import logging
import os
import signal
import sys

from . import moto_large_objects
from .moto_backend import _CountingServer


def main() -> None:
    """Child process: serve until stdin closes; print the port when ready."""
    # The parent ends us by closing stdin; Ctrl-C in a terminal reaches the
    # whole process group and must not kill us mid-shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    moto_large_objects.install()
    server = _CountingServer(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1")
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
