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

from .gateway import Relayed
from .process import DevStackProcess
from .stack import DevStack, StackInfo

__all__ = ["DevStack", "DevStackProcess", "Relayed", "StackInfo"]
