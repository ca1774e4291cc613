"""One local Lambda instance: reads `{"kind", "event"}` lines, writes handler results.

Run by `devstack.invoker`; its stdout carries the protocol only, so
Powertools' log and metric lines never corrupt it.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import traceback
import uuid
from dataclasses import dataclass

#: Route kind -> handler module (docs/contracts.md).
HANDLERS = {
    "connect": "lambdas.connect",
    "disconnect": "lambdas.disconnect",
    "relay": "lambdas.relay",
    "cleanup": "lambdas.cleanup",  # invoked by devstack/sweeper.py (TTL + stream on AWS)
}


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that handlers (Powertools) read."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/devstack"
    log_stream_name: str = "devstack"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gateway ends us by closing stdin
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    # Handler output (Powertools logs and EMF metrics) goes to stderr with
    # DEVSTACK_HANDLER_OUTPUT=stderr, else nowhere; tracebacks always reach stderr.
    if os.environ.get("DEVSTACK_HANDLER_OUTPUT") == "stderr":
        os.dup2(2, 1)
    else:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    modules = {kind: importlib.import_module(name) for kind, name in HANDLERS.items()}
    protocol.write("ready\n")
    for line in sys.stdin:
        request = json.loads(line)
        kind = request["kind"]
        context = LambdaContext(f"sgraph-send-{kind}", str(uuid.uuid4()))
        try:
            result = modules[kind].handler(request["event"], context)
        except Exception:
            # Lambda reports an unhandled error; the gateway turns it into a 500.
            traceback.print_exc()
            result = {"statusCode": 500, "devstackError": "unhandled exception in handler"}
        protocol.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
