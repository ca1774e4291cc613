"""The relay's storage actions (S3 fallback) over the in-memory repository, gateway and storage.

moto checks neither presigned signatures nor URL expiry, so who may have which
URL, for which key and until when is tested here, on our own logic, directly.
"""

from __future__ import annotations

import json

import pytest

from lambdas.signalling.errors import (
    Expired,
    Forbidden,
    InvalidField,
    MissingField,
    NotInRoom,
    NoUpload,
    StorageUnavailable,
    TooLarge,
    UploadIncomplete,
)
from lambdas.signalling.memory import InMemoryRepository, InMemoryStorage, RecordingGateway
from lambdas.signalling.messages import parse_message
from lambdas.signalling.service import SignallingService
from lambdas.signalling.settings import Settings
from transfer_core.storage import manifest_key, records_key
from transfer_core.storage.layout import MAX_MANIFEST_OBJECT_BYTES

from .relay_world import CRED, DAY, NOW, ROOM, Clock, call, join_three, last


@pytest.fixture
def world():
    repo, gateway, clock = InMemoryRepository(), RecordingGateway(), Clock()
    storage = InMemoryStorage(now=NOW)
    settings = Settings(table_name="t", bucket_name="b", presign_ttl_seconds=600)
    svc = SignallingService(repo, settings, gateway, clock=clock, storage=storage)
    join_three(svc)
    return svc, gateway, clock, storage


def test_sender_gets_a_manifest_url_under_its_own_room_only(world):
    svc, gw, _, _ = world
    call(svc, "S", {"action": "upload-start", "object": "manifest", "size": 276, "ref": "1"})
    reply = last(gw, "S")
    assert reply["type"] == "upload-start" and reply["ref"] == "1"
    assert reply["url"] == f"fake://put/{manifest_key(ROOM)}?length=276"
    assert reply["expiresAt"] == NOW + 600, "URLs expire in minutes"
    assert reply["storedUntil"] == NOW + 7 * DAY
    assert gw.to("R") == [] and gw.to("X") == [], "answered to the caller only"


def test_a_receiver_may_not_upload(world):
    svc, _, _, _ = world
    for body in (
        {"action": "upload-start", "object": "manifest", "size": 276},
        {"action": "upload-start", "object": "records", "first": 0, "parts": 0, "size": 9},
        {"action": "upload-parts", "first": 0, "uploadId": "u", "parts": [1]},
        {"action": "upload-complete", "first": 0, "uploadId": "u", "parts": 1},
    ):
        with pytest.raises(Forbidden):
            call(svc, "R", body)


def test_another_rooms_sender_cannot_reach_this_rooms_upload(world):
    svc, gw, _, storage = world
    call(svc, "S", {"action": "upload-start", "object": "records", "first": 0, "parts": 3,
                    "size": 24, "partSize": 10})
    upload_id = last(gw, "S")["uploadId"]
    # the key is built from the caller's room, so the upload id does not match it
    with pytest.raises(NoUpload):
        call(svc, "X", {"action": "upload-parts", "first": 0, "uploadId": upload_id,
                        "parts": [1]})
    with pytest.raises(NoUpload):
        call(svc, "X", {"action": "upload-complete", "first": 0, "uploadId": upload_id,
                        "parts": 1})
    # and its downloads see only its own (empty) room
    storage.store(manifest_key(ROOM), 100)
    with pytest.raises(Expired):
        call(svc, "X", {"action": "download-urls"})


def test_no_request_field_can_name_a_key_or_bucket():
    for body in (
        {"action": "download-urls", "key": "transfers/x/manifest"},
        {"action": "upload-start", "object": "manifest", "size": 1, "bucket": "b"},
        {"action": "upload-start", "object": "../x", "size": 1},
    ):
        with pytest.raises(Exception) as info:
            parse_message(json.dumps(body))
        assert getattr(info.value, "code", "") in ("unexpected-field", "invalid-field")


def test_multipart_upload_resumes_and_completes_only_when_whole(world):
    svc, gw, _, storage = world
    start = {"action": "upload-start", "object": "records", "first": 5, "parts": 3,
             "size": 24, "partSize": 10}
    call(svc, "S", start)
    reply = last(gw, "S")
    upload_id = reply["uploadId"]
    assert reply["uploaded"] == [] and reply["first"] == 5
    call(svc, "S", {"action": "upload-parts", "first": 5, "uploadId": upload_id,
                    "parts": [1, 2, 3]})
    urls = last(gw, "S")["urls"]
    assert [u["part"] for u in urls] == [1, 2, 3]
    assert all(records_key(ROOM, 5) in u["url"] for u in urls)
    # each URL is for exactly its part's bytes: 10, 10, and the last 4
    assert [u["url"].rsplit("length=", 1)[1] for u in urls] == ["10", "10", "4"]
    storage.put_part(upload_id, 1, 10)
    storage.put_part(upload_id, 3, 4)
    call(svc, "S", start)  # a restarted sender: same upload, with what S3 holds
    again = last(gw, "S")
    assert again["uploadId"] == upload_id and again["uploaded"] == [[1, 1], [3, 3]]
    with pytest.raises(UploadIncomplete, match="Part 2"):
        call(svc, "S", {"action": "upload-complete", "first": 5, "uploadId": upload_id,
                        "parts": 3})
    storage.put_part(upload_id, 2, 10)
    call(svc, "S", {"action": "upload-complete", "first": 5, "uploadId": upload_id,
                    "parts": 3})
    done = last(gw, "S")
    assert done["type"] == "upload-complete" and done["size"] == 24


def test_receiver_alone_in_the_room_gets_download_urls(world):
    svc, gw, _, storage = world
    storage.store(manifest_key(ROOM), 300)
    storage.store(records_key(ROOM, 0), 1000)
    storage.store(records_key(ROOM, 40), 500)
    storage.store(f"transfers/{ROOM}/stray", 1)  # not ours to hand out
    svc.disconnect("S")
    call(svc, "R", {"action": "download-urls", "ref": "d"})
    reply = last(gw, "R")
    assert reply["manifest"] == {"url": f"fake://get/{manifest_key(ROOM)}", "size": 300}
    assert [(r["first"], r["size"]) for r in reply["records"]] == [(0, 1000), (40, 500)]
    assert reply["expiresAt"] == NOW + 600
    assert reply["storedUntil"] == NOW + 7 * DAY


def test_nothing_stored_and_too_old_are_both_expired(world):
    svc, _, clock, storage = world
    with pytest.raises(Expired):
        call(svc, "R", {"action": "download-urls"})
    storage.store(manifest_key(ROOM), 300, modified=NOW - 7 * DAY - 1)
    # S3's lifecycle deletes eventually (moto never): the relay refuses by itself
    with pytest.raises(Expired, match="expired"):
        call(svc, "R", {"action": "download-urls"})


def test_url_lifetime_follows_the_setting_and_time(world):
    svc, gw, clock, storage = world
    clock.now = storage.now = NOW + 1234
    storage.store(manifest_key(ROOM), 1)
    call(svc, "R", {"action": "download-urls"})
    assert last(gw, "R")["expiresAt"] == NOW + 1234 + 600


def test_a_replaced_connection_gets_nothing(world):
    svc, _, _, _ = world
    svc.connect("S2", CRED, "sender", "A" * 22, "10.0.0.1")  # reconnect with the token
    with pytest.raises(NotInRoom):
        call(svc, "S", {"action": "upload-start", "object": "manifest", "size": 276})


def test_field_rules(world):
    svc, _, _, _ = world
    with pytest.raises(InvalidField):
        call(svc, "S", {"action": "upload-start", "object": "manifest", "first": 0, "size": 1})
    with pytest.raises(MissingField):
        call(svc, "S", {"action": "upload-start", "object": "records", "first": 0, "size": 1})
    with pytest.raises(MissingField):
        call(svc, "S", {"action": "upload-start", "object": "manifest"})
    with pytest.raises(MissingField):
        call(svc, "S", {"action": "upload-start", "object": "records", "first": 0, "parts": 2,
                        "size": 20})
    with pytest.raises(InvalidField):
        call(svc, "S", {"action": "upload-parts", "first": 0, "uploadId": "u",
                        "parts": [1, 1]})
    with pytest.raises(Exception, match="at most 16|16 items"):
        parse_message(json.dumps({"action": "upload-parts", "first": 0, "uploadId": "u",
                                  "parts": list(range(1, 18))}))


def test_without_a_bucket_storage_is_unavailable():
    repo, gateway = InMemoryRepository(), RecordingGateway()
    svc = SignallingService(repo, Settings(table_name="t"), gateway, clock=lambda: NOW)
    svc.connect("S", CRED, "sender", "A" * 22, "10.0.0.1")
    with pytest.raises(StorageUnavailable):
        svc.upload_start("S", "manifest")


# -- storage with limits (#10 §2) ---------------------------------------------------


def test_sizes_over_the_limit_and_more_parts_than_the_size_needs_are_refused(world):
    svc, gw, _, storage = world
    limit = 4 * 1024**3  # the default MAX_TRANSFER_BYTES
    with pytest.raises(TooLarge):
        call(svc, "S", {"action": "upload-start", "object": "records", "first": 0,
                        "parts": 2, "size": limit + 1, "partSize": limit})
    with pytest.raises(TooLarge):  # a manifest is small: at most 1024 records (#15)
        call(svc, "S", {"action": "upload-start", "object": "manifest",
                        "size": MAX_MANIFEST_OBJECT_BYTES + 1})
    with pytest.raises(InvalidField, match="make 3 parts, not 4"):
        call(svc, "S", {"action": "upload-start", "object": "records", "first": 0,
                        "parts": 4, "size": 24, "partSize": 10})
    with pytest.raises(InvalidField):  # a single PUT takes no part size
        call(svc, "S", {"action": "upload-start", "object": "records", "first": 0,
                        "parts": 0, "size": 24, "partSize": 10})
    # the room's objects together stay under the limit
    storage.store(records_key(ROOM, 0), limit - 100)
    with pytest.raises(TooLarge):
        call(svc, "S", {"action": "upload-start", "object": "records", "first": 7,
                        "parts": 0, "size": 101})
    call(svc, "S", {"action": "upload-start", "object": "records", "first": 7,
                    "parts": 0, "size": 100})
    assert last(gw, "S")["url"].endswith("length=100")
    # re-storing the object at the same first replaces it: not counted twice
    call(svc, "S", {"action": "upload-start", "object": "records", "first": 0,
                    "parts": 0, "size": limit - 100})


def test_a_room_holds_a_bounded_number_of_objects(world):
    svc, _, _, storage = world
    for first in range(16):
        storage.store(records_key(ROOM, first * 10), 1)
    with pytest.raises(TooLarge, match="16 objects"):
        call(svc, "S", {"action": "upload-start", "object": "records", "first": 999,
                        "parts": 0, "size": 1})


def test_parts_follow_the_declared_plan_and_its_upload_id_only(world):
    svc, gw, _, storage = world
    call(svc, "S", {"action": "upload-start", "object": "records", "first": 0, "parts": 3,
                    "size": 24, "partSize": 10})
    upload_id = last(gw, "S")["uploadId"]
    with pytest.raises(InvalidField, match="3 parts"):
        call(svc, "S", {"action": "upload-parts", "first": 0, "uploadId": upload_id,
                        "parts": [4]})
    # an upload the relay did not start for this room and first is refused outright
    other_id, _ = storage.start_upload(records_key(ROOM, 0) + "x")
    with pytest.raises(NoUpload):
        call(svc, "S", {"action": "upload-parts", "first": 0, "uploadId": other_id,
                        "parts": [1]})
    with pytest.raises(InvalidField, match="3 parts, not 2"):
        call(svc, "S", {"action": "upload-complete", "first": 0, "uploadId": upload_id,
                        "parts": 2})
    # resuming with another plan is refused (a restarted sender computes the same one)
    with pytest.raises(InvalidField, match="same plan"):
        call(svc, "S", {"action": "upload-start", "object": "records", "first": 0,
                        "parts": 2, "size": 24, "partSize": 20})


def test_presigned_puts_sign_their_exact_content_length():
    """moto checks no signature, so the URLs we generate are checked here: S3 itself
    refuses a body of another size when content-length is a signed header."""
    import boto3
    from botocore.config import Config

    from transfer_core.storage.presign import S3Presigner

    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="a",
                      aws_secret_access_key="b", config=Config(signature_version="s3v4"))
    presigner = S3Presigner(s3, "bucket")
    put = presigner.put_url("transfers/x/manifest", 276)
    assert "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost" in put
    # no S3 here: skip the existence check
    presigner._call = lambda *a, **k: {}  # type: ignore[method-assign]
    ((n, part),) = presigner.part_urls("transfers/x/records/0000000000", "u", [(1, 8 << 20)])
    assert n == 1 and "X-Amz-SignedHeaders=content-length%3Bhost" in part


def test_download_urls_fit_one_websocket_message_at_the_object_limit(world):
    """At MAX_RECORD_OBJECTS with real presigned URLs (a Lambda role's long session
    token included), the download-urls reply stays under API Gateway's 128 KB."""
    import boto3
    from botocore.config import Config

    from lambdas.signalling.service import SignallingService as Service
    from transfer_core.storage.layout import MAX_RECORD_OBJECTS
    from transfer_core.storage.presign import S3Presigner, StoredObject

    s3 = boto3.client("s3", region_name="eu-west-2", aws_access_key_id="A" * 20,
                      aws_secret_access_key="b" * 40, aws_session_token="T" * 1200,
                      config=Config(signature_version="s3v4"))

    class Listed(S3Presigner):
        def objects(self, prefix: str) -> list[StoredObject]:
            keys = [manifest_key(ROOM)] + [records_key(ROOM, 10**9 + i)
                                           for i in range(MAX_RECORD_OBJECTS)]
            return [StoredObject(k, 2**40, NOW) for k in keys]

    repo, gateway = InMemoryRepository(), RecordingGateway()
    svc = Service(repo, Settings(table_name="t", bucket_name="a-long-bucket-name-" + "x" * 40),
                  gateway, clock=lambda: NOW,
                  storage=Listed(s3, "a-long-bucket-name-" + "x" * 40))
    svc.connect("R", CRED, "receiver", None, "10.0.0.2")
    call(svc, "R", {"action": "download-urls", "ref": "r" * 64})
    reply = gateway.to("R")[-1]
    assert len(json.loads(reply)["records"]) == MAX_RECORD_OBJECTS
    assert len(reply) < 40 * 1024  # docs/signalling.md §6 says so; the hard limit is 128 KB
