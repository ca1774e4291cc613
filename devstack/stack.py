"""The whole local stack in one object: moto, Lambda workers, gateway."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import IO, Any

from lambdas.signalling import RELAY_ACTIONS

from .gateway import IDLE_TIMEOUT_SECONDS, Gateway, Relayed
from .invoker import Invoker
from .moto_backend import CREDENTIALS, REGION, MotoBackend
from .sweeper import SWEEP_SECONDS, TtlSweeper
from .web import WebServer


@dataclass(frozen=True, slots=True)
class StackInfo:
    """Where the parts of a running local stack listen (printed by `--json`)."""

    ws_url: str
    """WebSocket URL clients open (add `?role=…&token=…`; the room key: a subprotocol)."""
    management_url: str
    """`@connections` endpoint (what `MANAGEMENT_ENDPOINT_URL` is set to)."""
    aws_endpoint_url: str
    """moto server for DynamoDB and S3."""
    table_name: str
    """DynamoDB table."""
    bucket_name: str
    """S3 bucket for the fallback."""
    region: str
    """AWS region the clients use."""
    web_url: str = ""
    """The browser client's page (`devstack/web.py`), configured for this stack."""

    def to_dict(self) -> dict[str, str]:
        """As a plain dict."""
        return asdict(self)


class DevStack:
    """A running local stack; build it with `async with DevStack.start() as stack`."""

    def __init__(self, moto: MotoBackend, invoker: Invoker, gateway: Gateway,
                 web: WebServer | None = None) -> None:
        self.moto = moto
        self.web = web
        self.invoker = invoker
        self.gateway = gateway
        self.relayed: list[Relayed] = []
        """Every frame that crossed the gateway, when recording is on."""
        self.sweeper: TtlSweeper | None = None
        """Deletes expired transfers as DynamoDB's TTL and stream do on AWS."""

    @property
    def info(self) -> StackInfo:
        """URLs and names of the running parts."""
        return StackInfo(
            ws_url=self.gateway.ws_url,
            management_url=self.gateway.management_url,
            aws_endpoint_url=self.moto.endpoint_url,
            table_name=self.moto.table_name,
            bucket_name=self.moto.bucket_name,
            region=REGION,
            web_url=self.web.url if self.web is not None else "",
        )

    @property
    def ws_url(self) -> str:
        """WebSocket URL clients open."""
        return self.gateway.ws_url

    @property
    def endpoint_url(self) -> str:
        """moto endpoint for boto3 clients (DynamoDB, S3)."""
        return self.moto.endpoint_url

    def client(self, service: str) -> Any:
        """A boto3 client pointed at the stack's moto server."""
        return self.moto.client(service)

    def table_items(self) -> list[dict[str, Any]]:
        """Every item of the table (a Scan: for tests and inspection, never the handlers)."""
        ddb = self.client("dynamodb")
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.moto.table_name}
        while True:
            page = ddb.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        workers: int | None = None,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        env: dict[str, str] | None = None,
        record: bool = True,
        record_to: IO[str] | None = None,
        on_relay: Callable[[Relayed], None] | None = None,
        table_name: str = "sgraph-send-local",
        bucket_name: str = "sgraph-send-local",
        stage: str = "local",
        handler_output: bool = False,
        upgrade_delay: float = 0.0,
        sweep_interval: float = SWEEP_SECONDS,
    ) -> AsyncIterator[DevStack]:
        """Start moto, the Lambda workers and the gateway on 127.0.0.1; stop them on exit.

        `env` adds to (or overrides) the handlers' environment, e.g.
        `{"MESSAGE_RATE_PER_MINUTE": "5"}`. With `record`, every frame is kept
        in `stack.relayed`; `record_to` also writes each as a JSON line;
        `on_relay` is called with each. `handler_output` shows the handlers'
        Powertools logs and metrics on stderr. `host` is the address every part listens
        on: loopback, or a network lab's "internet" address (`tests/lab/`).
        `upgrade_delay` holds each 101 that long after `$connect` (a connection the
        gateway does not know yet). `sweep_interval`: how often expired transfers are
        deleted (devstack/sweeper.py: DynamoDB TTL and its stream, which moto lacks).
        """
        moto = MotoBackend(table_name, bucket_name, host=host)
        await asyncio.to_thread(moto.start)
        stack: DevStack | None = None

        def relay_hook(item: Relayed) -> None:
            assert stack is not None
            if record:
                stack.relayed.append(item)
            if record_to is not None:
                record_to.write(item.to_json() + "\n")
                record_to.flush()
            if on_relay is not None:
                on_relay(item)

        async def invoke(kind: str, event: dict[str, Any]) -> dict[str, Any]:
            assert invoker is not None
            return await invoker.invoke(kind, event)

        gateway = Gateway(
            invoke=invoke,
            routes=frozenset(RELAY_ACTIONS),
            stage=stage,
            idle_timeout=idle_timeout,
            on_relay=relay_hook,
            host=host,
            upgrade_delay=upgrade_delay,
        )
        invoker: Invoker | None = None
        web: WebServer | None = None
        sweeping: asyncio.Task[None] | None = None
        try:
            await gateway.start(ws_port=port)
            # presigned URLs point at moto: the page's CSP must let it connect there
            web = WebServer(gateway.ws_url, host=host, storage_origins=(moto.endpoint_url,))
            worker_env = {
                "TABLE_NAME": table_name,
                "ROOM_INDEX_NAME": moto.room_index_name,
                "BUCKET_NAME": bucket_name,
                "MANAGEMENT_ENDPOINT_URL": gateway.management_url,
                "AWS_ENDPOINT_URL_DYNAMODB": moto.endpoint_url,
                "AWS_ENDPOINT_URL_S3": moto.endpoint_url,
                "AWS_ENDPOINT_URL_SSM": moto.endpoint_url,
                # moto answers CompleteMultipartUpload only once it has joined every part
                # (S3 keeps the connection alive meanwhile): gigabytes take more than 5 s
                "S3_READ_TIMEOUT_SECONDS": "120",
                "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                "POWERTOOLS_SERVICE_NAME": "sgraph-send",
                # Per stack run: the daily salt of address hashes derives from it.
                "CLIENT_HASH_SECRET": secrets.token_urlsafe(32),
                "DEVSTACK_HANDLER_OUTPUT": "stderr" if handler_output else "",
                **(env or {}),
            }
            invoker = Invoker(worker_env, workers or min(4, os.cpu_count() or 2))
            await invoker.warm()
            sweeper = TtlSweeper(moto.client("dynamodb"), table_name, REGION,
                                 lambda event: invoke("cleanup", event), sweep_interval)
            sweeping = asyncio.create_task(sweeper.run())
            stack = cls(moto, invoker, gateway, web)
            stack.sweeper = sweeper
            yield stack
        finally:
            if sweeping is not None:
                sweeping.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeping
            if web is not None:
                web.close()
            await gateway.close()
            if invoker is not None:
                await invoker.close()
            await asyncio.to_thread(moto.stop)
