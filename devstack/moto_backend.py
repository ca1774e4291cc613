"""moto's server on 127.0.0.1 for DynamoDB and S3, with the table from docs/contracts.md.

`ThreadedMotoServer` runs in a child process of its own (`python -m
devstack.moto_server`), so its request handling does not share a GIL with
the gateway's event loop (that alone cut a DynamoDB call from ~12 ms to a few).
It also counts DynamoDB operations: `GET /_devstack/dynamodb-calls`.
"""

from __future__ import annotations

import collections
import functools
import io
import json
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class _CountingServer(ThreadedMotoServer):
    """ThreadedMotoServer that counts DynamoDB operations (by `X-Amz-Target`)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(ip_address=host, port=0, verbose=False)
        self.dynamodb_calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._dynamodb_serial = threading.Lock()

    def _server_entry(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        _skip_per_request_lookups()
        _pass_attribute_values_through()
        _query_one_partition()

        class HostCachingApplication(DomainDispatcherApplication):
            # moto lists its package folder (a stat per service) to place every request
            # by its host, twice: the answer for a host never changes (#14)
            def __init__(self, *args: Any) -> None:
                super().__init__(*args)
                self._backends: dict[str | None, Any] = {}

            def get_backend_for_host(self, host: str | None) -> Any:
                if host not in self._backends:
                    self._backends[host] = super().get_backend_for_host(host)
                return self._backends[host]

        app = HostCachingApplication(create_backend_app)

        class KeepAliveHandler(MotoRequestHandler):
            # HTTP/1.1 keeps botocore's connections open; werkzeug's default
            # HTTP/1.0 costs a new connection and thread per request.
            protocol_version = "HTTP/1.1"

            def run_wsgi(self) -> None:
                # werkzeug closes every connection whatever the protocol (it cannot tell
                # whether the application read the whole body), then waits 10 ms for
                # stray bytes: each DynamoDB call cost botocore a TCP connect and moto a
                # thread (#14). A DynamoDB call is a small body of a known length, read
                # here whole, so its connection can carry the next call.
                if not _whole_body_request(self.headers):
                    super().run_wsgi()
                    return
                _serve_keeping_alive(self, self.server.app)

        def counting(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("PATH_INFO") == "/_devstack/dynamodb-calls":
                with self._lock:
                    body = json.dumps(self.dynamodb_calls).encode()
                    if environ.get("REQUEST_METHOD") == "DELETE":
                        self.dynamodb_calls.clear()
                start_response("200 OK", [("Content-Type", "application/json")])
                return [body]
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if not target.startswith("DynamoDB_"):
                return app(environ, start_response)
            # the TTL sweeper stands in for DynamoDB itself (devstack/sweeper.py): not counted
            if not environ.get("HTTP_X_DEVSTACK_SWEEPER"):
                with self._lock:
                    self.dynamodb_calls[target.split(".", 1)[1]] += 1
            # DynamoDB applies each write to an item atomically; moto reads, copies and
            # writes it back unguarded, so two threads updating one item lost an `ADD`
            # (a download counted once for two) or failed with a 500 ("dictionary changed
            # size during iteration"). One DynamoDB call at a time, answered whole.
            with self._dynamodb_serial:
                result = app(environ, start_response)
                try:
                    return list(result)
                finally:
                    if hasattr(result, "close"):
                        result.close()

        self._server = make_server(
            self._ip_address, self._port, counting, True, request_handler=KeepAliveHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def _whole_body_request(headers: Any) -> bool:
    """A DynamoDB call whose body has a length (botocore's), so it can be read whole."""
    return (
        str(headers.get("X-Amz-Target", "")).startswith("DynamoDB_")
        and str(headers.get("Content-Length", "")).isdigit()
        and "Transfer-Encoding" not in headers
        and "Expect" not in headers
    )


def _serve_keeping_alive(handler: Any, app: Any) -> None:
    """Run the WSGI `app` for the handler's request and answer with a length, keeping
    the connection open (http.server then reads the next request on it)."""
    environ = handler.make_environ()
    environ["wsgi.input"] = io.BytesIO(handler.rfile.read(int(environ["CONTENT_LENGTH"])))
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return body.append

    body: list[bytes] = []
    try:
        result = app(environ, start_response)
        try:
            body.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
    except Exception:
        handler.close_connection = True
        handler.send_error(500)
        raise
    status, headers = started
    data = b"".join(body)
    code, _, reason = status.partition(" ")
    handler.send_response(int(code), reason)
    for name, value in headers:
        if name.lower() not in ("content-length", "connection", "transfer-encoding"):
            handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    # head and body in one write: two small segments on a kept connection meet the
    # client's delayed ACK (Nagle holds the second for ~40 ms)
    handler._headers_buffer.append(b"\r\n" + data)
    handler.flush_headers()


def _skip_per_request_lookups() -> None:
    """Cache what moto works out anew for every request, though it never changes.

    Each request to a service lists its response class's methods (`inspect.getmembers`)
    to find the action's; with the host lookup that was over a tenth of the CPU a
    DynamoDB call costs here, and every relay message makes one or two (#14).
    """
    from moto.core import responses

    responses.method_names_from_class = functools.cache(responses.method_names_from_class)


_partition = threading.local()
"""The table and hash key of the base-table Query this thread is answering, if any."""


def _query_one_partition() -> None:
    """Answer a Query on a table's own key from that key's items alone.

    moto answers every Query by listing and sorting every item of the table, then
    keeping those of the asked hash key: a relay message's Query (the room's slots) cost
    time in proportion to all the rooms there are, and at 200 concurrent rooms the local
    stack relayed a quarter of the messages per second it relayed for 50 (#14). DynamoDB
    reads one partition. Queries on an index keep moto's way (an index is not kept by
    key); the items, their order and everything after (conditions, filters, pages) are
    moto's own.
    """
    from moto.dynamodb.models.table import Table

    every_item = Table.all_items
    query = Table.query

    def all_items(self: Any) -> Any:
        asked: Any = getattr(_partition, "table", None)
        if asked is not self:
            return every_item(self)
        found = asked.items.get(_partition.key)
        if found is None:
            return []
        # moto's order: by hash key, then range key (one hash key here)
        return sorted(found.values(), key=lambda item: item.range_key)

    def query_partition(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or not self.range_key_attr:
            return query(self, hash_key, *args, **kwargs)
        _partition.table, _partition.key = self, hash_key
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _partition.table = _partition.key = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query_partition  # type: ignore[method-assign]


#: AttributeValue members whose JSON form is the value itself (no bytes to encode).
_PLAIN_ATTRIBUTE_TYPES = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


def _pass_attribute_values_through() -> None:
    """Write a DynamoDB attribute value that is already in its wire form as it is.

    moto's generic response serializer walks every attribute value of every item
    through the model's ten-member `AttributeValue` structure, trying each member
    under several spellings: about three quarters of the CPU of a Query that returns
    a room's slots, the one DynamoDB call of most relay messages (#14). moto keeps
    items as `{"S": "..."}` dicts, which is exactly their JSON form, so a one-member
    value of a string, number or boolean type is copied; anything else (binary, sets,
    maps, lists, moto's own objects) still takes the generic path.
    """
    from moto.core.serialize import JSONSerializer

    generic = JSONSerializer._serialize_type_structure

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any,
                            key: str) -> None:
        if (key and shape.name == "AttributeValue" and type(value) is dict and len(value) == 1
                and self.operation_model.service_model.service_name == "dynamodb"):
            ((kind, inner),) = value.items()
            plain = _PLAIN_ATTRIBUTE_TYPES.get(kind)
            if plain is not None and type(inner) is plain and not any(
                    path.endswith("." + kind)
                    for path in getattr(self._value_picker, "response_transformers", ())):
                serialized[self.get_serialized_name(shape, key)] = value
                return
        generic(self, serialized, value, shape, key)

    JSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]


def create_table(ddb: Any, table_name: str, room_index_name: str = "room-index") -> None:
    """Create the signalling table as docs/contracts.md defines it (with TTL on `ttl`)."""
    ddb.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "room_id", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": room_index_name,
                "KeySchema": [
                    {"AttributeName": "room_id", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    ddb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )


class MotoBackend:
    """A moto server process with the signalling table and the fallback bucket."""

    def __init__(self, table_name: str, bucket_name: str, room_index_name: str = "room-index",
                 host: str = "127.0.0.1"):
        self.host = host
        """The address to listen on (a network lab's public address; else loopback)."""
        self.table_name = table_name
        self.bucket_name = bucket_name
        self.room_index_name = room_index_name
        self._proc: subprocess.Popen[str] | None = None
        self._port = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def dynamodb_calls(self) -> collections.Counter[str]:
        """DynamoDB operations served so far, by name (`Query`, `UpdateItem`, …)."""
        with urllib.request.urlopen(self.endpoint_url + "/_devstack/dynamodb-calls") as resp:
            return collections.Counter(json.loads(resp.read()))

    def reset_dynamodb_calls(self) -> None:
        """Zero the DynamoDB operation counters."""
        request = urllib.request.Request(
            self.endpoint_url + "/_devstack/dynamodb-calls", method="DELETE"
        )
        urllib.request.urlopen(request).close()

    def client(self, service: str) -> Any:
        """A boto3 client for `service` pointed at this server."""
        return boto3.client(
            service, endpoint_url=self.endpoint_url, region_name=REGION, **CREDENTIALS
        )

    def start(self) -> None:
        """Start the server and create the table (contracts.md schema) and the bucket."""
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "devstack.moto_server", self.host],
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError("moto server failed to start (see stderr)")
        self._port = int(line)
        create_table(self.client("dynamodb"), self.table_name, self.room_index_name)
        self.client("s3").create_bucket(Bucket=self.bucket_name)
        self.reset_dynamodb_calls()

    def stop(self) -> None:
        """Stop the server process."""
        if self._proc is None:
            return
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()
        self._proc = None
