"""The embedded local stack: moto (DynamoDB, S3) and a WebSocket gateway running the real handlers.

```python
async with DevStack.start() as stack:
    stack.ws_url        # ws://127.0.0.1:<port>/local
    stack.endpoint_url  # moto, for boto3 clients
    stack.relayed       # every frame that crossed the gateway
```
`DevStackProcess` runs the same in a child process; `python -m devstack`
(or `make serve`) from a shell.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .gateway import Relayed
    from .process import DevStackProcess
    from .stack import DevStack, StackInfo

__all__ = ["DevStack", "DevStackProcess", "Relayed", "StackInfo"]

# Imported on first use (PEP 562): `sgraph-send` registers the `devstack` command
# through `devstack.cli`, and importing moto, flask and boto3 for every `send` and
# `receive` cost about a second of CPU at start (#14).
_HOME = {"DevStack": ".stack", "StackInfo": ".stack", "DevStackProcess": ".process",
         "Relayed": ".gateway"}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
