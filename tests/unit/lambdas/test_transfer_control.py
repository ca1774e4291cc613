"""Download limits, expiry and revocation of stored transfers (#15 §3), on the in-memory adapters.

The relay's actions (`transfer-limits`, `download-done`, `revoke`), the gate on the
storage actions, and the cleanup function's handling of DynamoDB stream records.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lambdas.signalling.cleanup import cleanup_records, expired_room
from lambdas.signalling.errors import Expired, Forbidden, InvalidField
from lambdas.signalling.memory import InMemoryRepository, InMemoryStorage, RecordingGateway
from lambdas.signalling.messages import parse_message
from lambdas.signalling.service import SignallingService
from lambdas.signalling.settings import Settings
from lambdas.signalling.transfers import (
    LinkExpired,
    LinkRevoked,
    LinkUsedUp,
    MemoryTransfers,
    TransferControl,
)
from transfer_core.storage import manifest_key, records_key

from .relay_world import CRED, DAY, NOW, OTHER, ROOM, Clock, call, join_three, last

EVENT = Path(__file__).resolve().parents[2] / "events" / "dynamodb_ttl_remove.json"


@pytest.fixture
def world():
    repo, gateway, clock = InMemoryRepository(), RecordingGateway(), Clock()
    storage, store = InMemoryStorage(now=NOW), MemoryTransfers()
    control = TransferControl(store, storage, 7 * DAY, clock=clock)
    settings = Settings(table_name="t", bucket_name="b")
    svc = SignallingService(repo, settings, gateway, clock=clock, storage=storage,
                            transfers=control)
    join_three(svc)
    return svc, gateway, clock, storage, store


def store_transfer(storage: InMemoryStorage, room: str = ROOM) -> None:
    storage.store(manifest_key(room), 276)
    storage.store(records_key(room, 0), 1000)


def test_limits_then_one_download_closes_the_link_and_deletes_the_objects(world):
    svc, gw, _, storage, store = world
    call(svc, "S", {"action": "transfer-limits", "downloads": 1, "expiresIn": 1800, "ref": "1"})
    assert last(gw, "S") == {"type": "transfer-limits", "downloads": 1,
                             "expiresAt": NOW + 1800, "ref": "1"}
    call(svc, "S", {"action": "upload-start", "object": "manifest", "size": 276})
    assert last(gw, "S")["storedUntil"] == NOW + 1800, "the sender's expiry, not the bucket's"
    store_transfer(storage)
    store_transfer(storage, OTHER)
    call(svc, "R", {"action": "download-urls"})
    assert last(gw, "R")["storedUntil"] == NOW + 1800
    call(svc, "R", {"action": "download-done", "ref": "2"})
    assert last(gw, "R") == {"type": "download-done", "counted": True, "remaining": 0, "ref": "2"}
    assert storage.objects(f"transfers/{ROOM}/") == []
    assert len(storage.objects(f"transfers/{OTHER}/")) == 2, "another room's transfer stays"
    assert store.records[ROOM].closed == "used-up"
    with pytest.raises(LinkUsedUp) as refused:
        call(svc, "R", {"action": "download-urls"})
    assert refused.value.code == "link-used-up" and "used up" in refused.value.message
    with pytest.raises(LinkUsedUp):  # nothing can be stored on a closed link again
        call(svc, "S", {"action": "upload-start", "object": "manifest", "size": 276})


def test_downloads_count_down_and_no_limit_never_closes(world):
    svc, gw, _, storage, store = world
    call(svc, "S", {"action": "transfer-limits", "downloads": 2})
    store_transfer(storage)
    call(svc, "R", {"action": "download-done"})
    assert last(gw, "R")["remaining"] == 1 and store.records[ROOM].closed is None
    call(svc, "R", {"action": "download-done"})
    assert last(gw, "R")["remaining"] == 0 and store.records[ROOM].closed == "used-up"


def test_download_done_without_any_record_counts_nothing(world):
    svc, gw, _, _, store = world
    call(svc, "R", {"action": "download-done"})
    assert last(gw, "R") == {"type": "download-done", "counted": False, "remaining": None}
    assert store.records == {}


def test_a_stored_transfer_always_gets_a_record_that_expires_with_the_bucket(world):
    svc, gw, clock, storage, store = world
    call(svc, "S", {"action": "upload-start", "object": "manifest", "size": 276})
    assert store.records[ROOM].expires_at == NOW + 7 * DAY
    assert store.records[ROOM].downloads == 0
    store_transfer(storage)
    clock.now = NOW + 7 * DAY + 1  # past expiry, before DynamoDB's TTL got to the item
    svc.connect("R2", CRED, "receiver", "B" * 22, "10.0.0.2")  # a week later: a new connection
    with pytest.raises(LinkExpired):
        call(svc, "R2", {"action": "download-urls"})
    assert storage.objects(f"transfers/{ROOM}/") == [], "the relay deletes at once"
    assert store.records[ROOM].closed == "expired"


def test_expiry_bounds_are_the_minute_and_the_bucket_lifecycle(world):
    svc, _, _, _, _ = world
    with pytest.raises(InvalidField) as long:
        call(svc, "S", {"action": "transfer-limits", "expiresIn": 7 * DAY + 1})
    assert "7 days" in long.value.message
    with pytest.raises(InvalidField):
        call(svc, "S", {"action": "transfer-limits", "expiresIn": 59})
    with pytest.raises(InvalidField):
        call(svc, "S", {"action": "transfer-limits", "downloads": 0})
    call(svc, "S", {"action": "transfer-limits", "expiresIn": 7 * DAY})


def test_roles_only_the_sender_sets_limits_either_counts_a_download(world):
    svc, gw, _, storage, store = world
    with pytest.raises(Forbidden):
        call(svc, "R", {"action": "transfer-limits", "downloads": 5})
    call(svc, "S", {"action": "transfer-limits", "downloads": 2})
    store_transfer(storage)
    # a sender counts a receiver it served directly (protocol.md 2.2); a receiver that
    # read the stored file counts itself
    call(svc, "S", {"action": "download-done"})
    assert last(gw, "S")["remaining"] == 1 and store.records[ROOM].closed is None
    call(svc, "R", {"action": "download-done"})
    assert last(gw, "R")["remaining"] == 0 and store.records[ROOM].closed == "used-up"
    # another room's sender counts against its own room, which has no limits
    call(svc, "X", {"action": "download-done"})
    assert last(gw, "X") == {"type": "download-done", "counted": False, "remaining": None}
    assert OTHER not in store.records


def test_revoke_deletes_now_and_unfinished_uploads_too(world):
    svc, gw, _, storage, store = world
    call(svc, "S", {"action": "upload-start", "object": "records", "first": 0, "parts": 3,
                    "size": 15 << 20, "partSize": 5 << 20})
    upload_id = last(gw, "S")["uploadId"]
    storage.put_part(upload_id, 1, 5 << 20)
    storage.store(manifest_key(ROOM), 276)
    call(svc, "R", {"action": "revoke", "ref": "9"})  # any holder of the link may revoke
    assert last(gw, "R") == {"type": "revoke", "closed": "revoked", "ref": "9"}
    assert storage.objects(f"transfers/{ROOM}/") == [] and storage.uploads == {}
    with pytest.raises(LinkRevoked):
        call(svc, "R", {"action": "download-urls"})
    with pytest.raises(LinkRevoked):
        call(svc, "S", {"action": "upload-parts", "first": 0, "uploadId": upload_id,
                        "parts": [2]})
    call(svc, "S", {"action": "revoke"})
    assert last(gw, "S")["closed"] == "revoked", "revoking twice is harmless"


def test_never_stored_is_still_the_old_expired_code(world):
    svc, _, _, _, _ = world
    with pytest.raises(Expired) as nothing:
        call(svc, "R", {"action": "download-urls"})
    assert nothing.value.code == "expired", "distinct from link-expired / used-up / revoked"


def test_cleanup_handles_only_ttl_removals_of_live_transfer_items(world):
    _, _, _, storage, store = world
    control = TransferControl(store, storage, 7 * DAY, clock=lambda: NOW)
    event = json.loads(EVENT.read_text())
    room = "0123456789abcdef0123456789abcdef"
    store_transfer(storage, room)
    store_transfer(storage, ROOM)
    by_relay = copy.deepcopy(event["Records"][0])
    del by_relay["userIdentity"]  # a request's delete, not TTL's
    closed = copy.deepcopy(event["Records"][0])
    closed["dynamodb"]["OldImage"]["closed"] = {"S": "revoked"}
    slot = copy.deepcopy(event["Records"][0])
    slot["dynamodb"]["Keys"]["sk"] = {"S": "SLOT#sender"}
    assert [expired_room(r) for r in (by_relay, closed, slot)] == [None, None, None]
    assert cleanup_records(control, [by_relay, closed, slot, *event["Records"]]) == {
        "batchItemFailures": []}
    assert storage.objects(f"transfers/{room}/") == []
    assert len(storage.objects(f"transfers/{ROOM}/")) == 2
    assert store.records[room].closed == "expired"


def test_cleanup_reports_a_failed_record_for_a_retry():
    class Broken:
        def purge(self, prefix: str) -> int:
            raise OSError("S3 is down")

    control = TransferControl(MemoryTransfers(), Broken(), 7 * DAY, clock=lambda: NOW)
    event = json.loads(EVENT.read_text())
    assert cleanup_records(control, event["Records"]) == {
        "batchItemFailures": [{"itemIdentifier": "111100000000000000000001"}]}


def test_logs_and_records_hold_no_key_only_the_room_id(world, caplog):
    import base64
    import logging

    svc, gw, _, storage, store = world
    key = bytes(range(32))
    with caplog.at_level(logging.DEBUG, logger="lambdas"):
        call(svc, "S", {"action": "transfer-limits", "downloads": 1})
        store_transfer(storage)
        call(svc, "R", {"action": "download-done"})
        call(svc, "R", {"action": "revoke"})
    logged = " ".join(str(r.__dict__) for r in caplog.records)  # message and extra fields
    text = logged + repr(store.records) + b"".join(d for _, d in gw.sent).decode()
    assert ROOM in logged, "the closure was logged (with the room id only)"
    for secret in (key.hex(), base64.urlsafe_b64encode(key).rstrip(b"=").decode(), CRED):
        assert secret not in text


def test_the_documented_actions_are_what_the_relay_parses():
    import re

    text = (Path(__file__).resolve().parents[3] / "docs" / "signalling.md").read_text()
    section = text[text.index("## 8. A transfer the sender controls"):]
    lines = [json.loads(line) for block in re.findall(r"```json\n(.*?)\n```", section, re.S)
             for line in block.splitlines()]
    actions = [m for m in lines if "action" in m]
    assert {m["action"] for m in actions} == {"transfer-limits", "download-done", "revoke"}
    for message in actions:
        assert parse_message(json.dumps(message)).action == message["action"]
