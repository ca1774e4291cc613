"""Hypothesis fuzz of relay message bodies: never an unhandled exception, always one reply."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdas.signalling.api import NoTelemetry
from lambdas.signalling.memory import InMemoryRepository, InMemoryStorage, RecordingGateway
from lambdas.signalling.relay_api import relay_event
from lambdas.signalling.service import SignallingService
from lambdas.signalling.settings import Settings
from transfer_core.protocol.room import offer

CRED = ", ".join(offer(bytes(range(32))))
KNOWN_TYPES = {
    "welcome", "pong", "ice-servers", "error", "peer-left",
    "upload-start", "upload-parts", "upload-complete", "download-urls",
}
KNOWN_CODES = {
    "bad-json",
    "unknown-action",
    "missing-field",
    "unexpected-field",
    "invalid-field",
    "payload-too-large",
    "not-in-room",
    "rate-limited",
    "no-peer",
    # the storage actions (signalling.md §6)
    "forbidden",
    "expired",
    "no-upload",
    "upload-incomplete",
    "too-large",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
messages = st.fixed_dictionaries(
    {},
    optional={
        "action": st.sampled_from([
            "hello", "signal", "ping", "ice-servers", "nope", "",
            "upload-start", "upload-parts", "upload-complete", "download-urls",
        ]) | json_values,
        "object": st.sampled_from(["manifest", "records"]) | json_values,
        "first": st.integers(min_value=-2, max_value=2**33) | json_values,
        "parts": st.integers(min_value=-1, max_value=10_001) | st.lists(st.integers(), max_size=3)
        | json_values,
        "size": st.integers(min_value=-1, max_value=2**54) | json_values,
        "partSize": st.integers(min_value=-1, max_value=2**40) | json_values,
        "uploadId": st.text(max_size=10) | json_values,
        "payload": json_values,
        "to": st.sampled_from(["B", "A", "Z"]) | json_values,
        "ref": st.text(max_size=80) | json_values,
        "extra": json_values,
    },
)
bodies = (
    messages.map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(max_size=200)
    | st.sampled_from(["[" * 5000, '{"action":"signal","payload":' + "[" * 3000 + "]" * 3000 + "}"])
    # strict JSON: what json.loads accepts but JSON does not mean
    | st.sampled_from([
        '{"action":"ping","ref":NaN}', '{"action":"signal","payload":-Infinity}',
        '{"action":"ping","ref":"\\ud800"}', '{"action":"signal","payload":["\\udc00"]}',
        '{"action":"signal","payload":' + "[" * 33 + "]" * 33 + "}",
        '{"action":"upload-start","object":"records","first":0,"parts":1,"size":1e400}',
    ])
)


def _world():
    repo, gateway = InMemoryRepository(), RecordingGateway()
    service = SignallingService(repo, Settings(table_name="t", bucket_name="b"), gateway,
                                storage=InMemoryStorage())
    service.connect("A", CRED, "sender", None, "ip")
    service.connect("B", CRED, "receiver", None, "ip")
    return service, gateway


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, binary=st.booleans())
def test_relay_never_raises_and_always_answers_or_forwards(body, binary):
    service, gateway = _world()
    event = {"requestContext": {"connectionId": "A"}, "body": body, "isBase64Encoded": binary}
    assert relay_event(service, event, NoTelemetry()) == {"statusCode": 200}
    to_a = [json.loads(m) for m in gateway.to("A")]
    to_b = [json.loads(m) for m in gateway.to("B")]
    assert to_a or to_b
    for message in to_a:
        assert message["type"] in KNOWN_TYPES
        if message["type"] == "error":
            assert message["code"] in KNOWN_CODES, message
    for message in to_b:
        assert message["type"] in {"signal", "peer-joined"}
