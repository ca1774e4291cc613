"""Handlers under moto's in-process `mock_aws`, fed API Gateway events from tests/events/."""

from __future__ import annotations

import copy
import importlib
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from moto import mock_aws
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID

from devstack.moto_backend import create_table
from devstack.worker import LambdaContext
from transfer_core.protocol.room import offer

EVENTS = Path(__file__).resolve().parents[2] / "events"
REGION = "eu-west-2"
TABLE = "signalling-test"


def within_one_rate_window(needed: float = 5.0, window: int = 60) -> None:
    """Sleep into the next rate-limit window when fewer than `needed` seconds are left of
    this one: the limits count per fixed window, and a burst straddling a window's end
    splits across two counts (a full-suite run once started one at hh:mm:59.97)."""
    left = window - time.time() % window
    if left < needed:
        time.sleep(left + 0.1)


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


class Stack(SimpleNamespace):
    """The three handler modules, loaded inside mock_aws, with helpers to drive them."""

    def context(self, kind: str) -> LambdaContext:
        return LambdaContext(f"sgraph-send-{kind}", "c0ffee00-0000-4000-8000-000000000000")

    def connect(
        self, cid: str, room: bytes | str, role: str, token: str | None = None,
        ip: str = "203.0.113.7",
    ) -> dict[str, Any]:
        """Connect with a room key (bytes) or a raw `Sec-WebSocket-Protocol` value (str)."""
        event = copy.deepcopy(load_event("websocket_connect.json"))
        event["requestContext"]["connectionId"] = cid
        event["requestContext"]["identity"]["sourceIp"] = ip
        offered = ", ".join(offer(room)) if isinstance(room, bytes) else room
        event["headers"]["Sec-WebSocket-Protocol"] = offered
        event["multiValueHeaders"]["Sec-WebSocket-Protocol"] = [offered]
        query = {"role": role}
        if token is not None:
            query["token"] = token
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        return self.connect_module.handler(event, self.context("connect"))

    def send(self, cid: str, body: str | dict[str, Any], route: str = "$default") -> dict[str, Any]:
        event = copy.deepcopy(load_event("websocket_message.json"))
        event["requestContext"]["connectionId"] = cid
        event["requestContext"]["routeKey"] = route
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        return self.relay_module.handler(event, self.context("relay"))

    def disconnect(self, cid: str) -> dict[str, Any]:
        event = copy.deepcopy(load_event("websocket_disconnect.json"))
        event["requestContext"]["connectionId"] = cid
        return self.disconnect_module.handler(event, self.context("disconnect"))

    def received(self, cid: str) -> list[dict[str, Any]]:
        """Every message posted to `cid` (moto concatenates the posts; split them again)."""
        backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][REGION]
        key = quote(cid, safe="")  # moto keys connections by the URL-encoded id
        data = backend.connections[key].data.decode() if key in backend.connections else ""
        decoder, out, pos = json.JSONDecoder(), [], 0
        while pos < len(data):
            obj, pos = decoder.raw_decode(data, pos)
            out.append(obj)
        return out

    def items(self) -> list[dict[str, Any]]:
        return self.ddb.scan(TableName=TABLE)["Items"]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "TABLE_NAME": TABLE,
        "STUN_URLS": "stun:stun.example.net:3478",
        "TURN_URLS": "turn:turn.example.net:3478?transport=udp,turns:turn.example.net:5349",
        "TURN_SECRET": "integration-secret",
        "MESSAGE_RATE_PER_MINUTE": "20",
        "CONNECT_RATE_PER_MINUTE": "10",
        "POWERTOOLS_SERVICE_NAME": "sgraph-send",
        "CLIENT_HASH_SECRET": "integration-hash-secret",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("MANAGEMENT_ENDPOINT_URL", "LAMBDA_TASK_ROOT", "POWERTOOLS_METRICS_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb, TABLE)
        runtime = importlib.reload(importlib.import_module("lambdas._runtime"))
        modules = {
            f"{name}_module": importlib.reload(importlib.import_module(f"lambdas.{name}"))
            for name in ("connect", "disconnect", "relay")
        }
        yield Stack(runtime=runtime, ddb=ddb, **modules)
