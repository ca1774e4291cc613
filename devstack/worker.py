"""One local Lambda instance: reads `{"kind", "event"}` lines, writes handler results.

Run by `devstack.invoker`; stdout carries the protocol only (handler output is
moved to stderr), so Powertools' log lines never corrupt it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
import uuid
from dataclasses import dataclass

#: Route kind -> handler module (docs/contracts.md).
HANDLERS = {
    "connect": "lambdas.connect",
    "disconnect": "lambdas.disconnect",
    "relay": "lambdas.relay",
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
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
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
