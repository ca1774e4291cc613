"""The signalling domain service over the in-memory repository and gateway."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json

import pytest

from lambdas.signalling.errors import (
    BadRequest,
    NoPeer,
    NotInRoom,
    PayloadTooLarge,
    RateLimited,
    RoomFull,
)
from lambdas.signalling.memory import InMemoryRepository, RecordingGateway
from lambdas.signalling.service import ADMISSION_GRACE_SECONDS, SignallingService, token_hash
from lambdas.signalling.settings import Settings
from transfer_core.protocol.room import offer, room_id_for

from .relay_world import Clock

KEY = bytes(range(32))
CRED = ", ".join(offer(KEY))  # the Sec-WebSocket-Protocol header a v2 client sends
ROOM = room_id_for(KEY)
OTHER_CRED = ", ".join(offer(b"\xff" * 32))
TOKEN = "A" * 22


@pytest.fixture
def world():
    repo = InMemoryRepository()
    gateway = RecordingGateway()
    clock = Clock()
    settings = Settings(table_name="t", stun_urls=("stun:127.0.0.1:3478",))

    def make(**overrides):
        s = dataclasses.replace(settings, **overrides)
        return SignallingService(repo, s, gateway, clock=clock, random_bytes=lambda n: b"s" * n)

    return repo, gateway, clock, make


def messages(gateway: RecordingGateway, cid: str) -> list[dict]:
    return [json.loads(m) for m in gateway.to(cid)]


def test_two_peers_meet_and_exchange_signals(world):
    repo, gw, _, make = world
    svc = make()
    svc.connect("A", CRED, "sender", TOKEN, "10.0.0.1")
    svc.hello("A", ref="h1")
    welcome = messages(gw, "A")[0]
    assert welcome == {
        "type": "welcome",
        "id": "A",
        "role": "sender",
        "room": ROOM,
        "peers": [],
        "limits": {"maxPayloadBytes": 16384, "messagesPerMinute": 600, "maxReceivers": 1},
        "iceServers": [{"urls": ["stun:127.0.0.1:3478"]}],
        "iceExpiresAt": welcome["iceExpiresAt"],
        "ref": "h1",
    }
    svc.connect("B", CRED, "receiver", None, "10.0.0.2")
    svc.hello("B")
    assert messages(gw, "B")[0]["peers"] == [{"id": "A", "role": "sender"}]
    assert messages(gw, "A")[1] == {"type": "peer-joined", "peer": {"id": "B", "role": "receiver"}}

    outcome = svc.signal("A", {"sdp": "v=0"})
    assert outcome.delivered == 1
    assert messages(gw, "B")[-1] == {
        "type": "signal",
        "from": "A",
        "role": "sender",
        "payload": {"sdp": "v=0"},
    }


def test_room_capacity_one_sender_one_receiver(world):
    _, _, _, make = world
    svc = make()
    svc.connect("A", CRED, "sender", None, "ip")
    with pytest.raises(RoomFull):
        svc.connect("A2", CRED, "sender", None, "ip")
    svc.connect("B", CRED, "receiver", None, "ip")
    with pytest.raises(RoomFull):
        svc.connect("B2", CRED, "receiver", None, "ip")
    # Another room is independent.
    svc.connect("C", OTHER_CRED, "sender", None, "ip")


def test_max_receivers_gives_more_receiver_slots(world):
    repo, _, _, make = world
    svc = make(max_receivers=2)
    svc.connect("B1", CRED, "receiver", None, "ip")
    conn, _ = svc.connect("B2", CRED, "receiver", None, "ip")
    assert conn.slot == "receiver#2"
    with pytest.raises(RoomFull):
        svc.connect("B3", CRED, "receiver", None, "ip")


@pytest.mark.parametrize(
    "room,role,token",
    [
        ("0123", "sender", None),
        (ROOM, "sender", None),  # a version-1 client's room id is no capability
        (CRED.upper(), "sender", None),
        (None, "sender", None),
        ("sgraph-send.v2", "sender", None),  # the version without a key
        (offer(KEY)[1], "sender", None),  # a key without the version
        (CRED + "\n", "sender", None),
        (CRED + "A", "sender", None),
        (CRED + ", " + offer(b"\x01" * 32)[1], "sender", None),  # two keys
        (CRED, "admin", None),
        (CRED, None, None),
        (CRED, "sender", "short"),
        (CRED, "sender", "has spaces in it......."),
        (CRED, "sender", TOKEN + "\n"),  # identifiers are matched whole
    ],
)
def test_connect_validates_query(world, room, role, token):
    _, _, _, make = world
    with pytest.raises(BadRequest):
        make().connect("A", room, role, token, "ip")


def test_reconnect_with_token_takes_the_slot_back(world):
    repo, gw, _, make = world
    svc = make()
    svc.connect("A", CRED, "sender", TOKEN, "ip")
    with pytest.raises(RoomFull):
        svc.connect("A-other", CRED, "sender", "B" * 22, "ip")
    with pytest.raises(RoomFull):
        svc.connect("A-notoken", CRED, "sender", None, "ip")
    conn, replaced = svc.connect("A2", CRED, "sender", TOKEN, "ip")
    assert replaced == "A"
    # Only the hash is stored.
    stored = repo.slots[(ROOM, "sender")]
    assert stored.token_hash == hashlib.sha256(TOKEN.encode()).hexdigest() == token_hash(TOKEN)
    assert TOKEN not in repr(repo)
    # The stale connection's disconnect must not free the slot nor announce a departure.
    svc.connect("B", CRED, "receiver", None, "ip")
    svc.disconnect("A")
    assert repo.slots[(ROOM, "sender")].connection_id == "A2"
    assert messages(gw, "B") == []
    # And the stale connection can no longer act in the room, whatever it sends.
    for act in (lambda: svc.signal("A", "x"), lambda: svc.ping("A"),
                lambda: svc.ice_servers("A"), lambda: svc.hello("A")):
        with pytest.raises(NotInRoom):
            act()


def test_expired_slot_is_free_again(world):
    repo, _, clock, make = world
    svc = make(connection_ttl_seconds=60)
    svc.connect("A", CRED, "sender", None, "ip")
    clock.now += 61
    conn, replaced = svc.connect("A2", CRED, "sender", None, "ip")
    assert replaced is None and conn.connection_id == "A2"


def test_signal_stays_inside_the_room(world):
    _, gw, _, make = world
    svc = make()
    svc.connect("A", CRED, "sender", None, "ip")
    svc.connect("B", CRED, "receiver", None, "ip")
    svc.connect("X", OTHER_CRED, "receiver", None, "ip")
    with pytest.raises(NotInRoom):
        svc.signal("A", "hi", to="X")
    with pytest.raises(NoPeer):
        svc.signal("X", "hi")
    with pytest.raises(NotInRoom):
        svc.signal("A", "hi", to="A")
    svc.signal("A", "hi", to="B")
    assert gw.to("X") == []
    assert messages(gw, "B")[-1]["payload"] == "hi"


def test_a_receivers_signal_without_to_reaches_the_sender_only(world):
    # Revision 2.3 (#14): a receiver's `ready` leaves before its `welcome` names the
    # sender, so it goes without `to`; other receivers (2.0 clients refuse a receiver's
    # envelope) never see it, and a sender's signal without `to` still reaches all
    _, gw, _, make = world
    svc = make(max_receivers=2)
    svc.connect("R1", CRED, "receiver", None, "ip")
    svc.connect("R2", CRED, "receiver", None, "ip")
    with pytest.raises(NoPeer):  # no sender yet: the receivers do not hear each other
        svc.signal("R1", "ready")
    assert gw.to("R2") == []
    svc.connect("S", CRED, "sender", None, "ip")
    assert svc.signal("R1", "ready").delivered == 1
    assert messages(gw, "S")[-1] == {"type": "signal", "from": "R1", "role": "receiver",
                                     "payload": "ready"}
    assert gw.to("R2") == []
    assert svc.signal("S", "to all").delivered == 2
    assert messages(gw, "R2")[-1]["payload"] == "to all"
    assert svc.signal("R1", "named", to="R2").delivered == 1  # `to` is still obeyed


def test_payload_limit(world):
    _, gw, _, make = world
    svc = make()
    svc.connect("A", CRED, "sender", None, "ip")
    svc.connect("B", CRED, "receiver", None, "ip")
    svc.signal("A", "x" * (16384 - 2))  # 16384 bytes once quoted
    with pytest.raises(PayloadTooLarge):
        svc.signal("A", "x" * (16384 - 1))


def test_gone_target_is_removed_and_sender_told_never_the_sender(world):
    repo, gw, clock, make = world
    svc = make()
    svc.connect("A", CRED, "sender", None, "ip")
    svc.connect("B", CRED, "receiver", None, "ip")
    gw.gone.add("B")
    clock.now += ADMISSION_GRACE_SECONDS  # B is past its admission: gone means gone
    with pytest.raises(NoPeer):
        svc.signal("A", "offer")
    assert "B" not in repo.connections and (ROOM, "receiver#1") not in repo.slots
    assert "A" in repo.connections and (ROOM, "sender") in repo.slots
    assert messages(gw, "A")[-1] == {
        "type": "peer-left",
        "peer": {"id": "B", "role": "receiver"},
        "reason": "gone",
    }


def test_disconnect_tells_the_rest_and_frees_the_slot(world):
    repo, gw, _, make = world
    svc = make()
    svc.connect("A", CRED, "sender", None, "ip")
    svc.connect("B", CRED, "receiver", None, "ip")
    svc.disconnect("B")
    assert messages(gw, "A")[-1]["type"] == "peer-left"
    assert messages(gw, "A")[-1]["reason"] == "closed"
    svc.disconnect("A")
    assert repo.connections == {} and repo.slots == {}
    # A second disconnect (API Gateway retries) is harmless.
    assert svc.disconnect("A").delivered == 0


def test_message_rate_limit_per_connection(world):
    _, gw, clock, make = world
    svc = make(message_rate_per_minute=3)
    svc.connect("A", CRED, "sender", None, "ip")
    for _ in range(3):
        svc.ping("A")
    with pytest.raises(RateLimited):
        svc.ping("A")
    clock.now += 60
    svc.ping("A")
    assert [m["type"] for m in messages(gw, "A")] == ["pong"] * 4


def test_connect_rate_limit_per_client_uses_salted_hash(world):
    repo, _, _, make = world
    svc = make(connect_rate_per_minute=2)
    svc.connect("A", CRED, "sender", None, "203.0.113.9")
    svc.connect("B", CRED, "receiver", None, "203.0.113.9")
    with pytest.raises(RateLimited):
        svc.connect("C", OTHER_CRED, "sender", None, "203.0.113.9")
    svc.connect("D", OTHER_CRED, "sender", None, "198.51.100.1")
    assert "203.0.113.9" not in repr(repo)
    (hashed, _window), *_ = repo.connect_counts
    # The daily salt derives from a secret the table does not hold.
    salt = hmac.new(b"s" * 32, b"sgraph-send/client-hash-salt/2023-11-14", "sha256").digest()
    assert hashed == hashlib.sha256(salt + b"203.0.113.9").hexdigest()[:32]
    assert salt not in repr(repo).encode() and salt.hex() not in repr(repo)


def test_not_in_room_after_the_connection_is_gone(world):
    _, _, _, make = world
    with pytest.raises(NotInRoom):
        make().ping("nobody")


def test_ice_servers_turn_rest_credentials(world):
    _, gw, clock, make = world
    svc = make(turn_urls=("turn:127.0.0.1:3478?transport=udp",), turn_secret="s3cret")
    svc.connect("A", CRED, "sender", None, "ip")
    svc.ice_servers("A", ref="r")
    reply = messages(gw, "A")[-1]
    expires = int(clock.now) + 3600
    username = f"{expires}:A"
    credential = base64.b64encode(
        hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest()
    ).decode()
    assert reply == {
        "type": "ice-servers",
        "iceServers": [
            {"urls": ["stun:127.0.0.1:3478"]},
            {
                "urls": ["turn:127.0.0.1:3478?transport=udp"],
                "username": username,
                "credential": credential,
            },
        ],
        "expiresAt": expires,
        "ref": "r",
    }


def test_relayed_message_costs_two_store_calls(world):
    repo, _, _, make = world
    svc = make()
    svc.connect("A", CRED, "sender", None, "ip")
    svc.connect("B", CRED, "receiver", None, "ip")
    before = repo.calls
    svc.signal("A", {"candidate": "x"})
    assert repo.calls - before == 2  # A's item (membership, room) and the room's slots
    before = repo.calls
    svc.signal("A", {"candidate": "y"})
    assert repo.calls - before == 1  # the instance knows A's room: the slots prove membership


def test_a_known_connection_that_lost_its_slot_is_not_in_room(world):
    _, _, _, make = world
    svc = make()
    svc.connect("A", CRED, "sender", TOKEN, "ip")
    svc.ping("A")  # the instance now knows A's room
    svc.connect("A2", CRED, "sender", TOKEN, "ip")  # A's reconnect takes the slot back
    for action in (lambda: svc.ping("A"), lambda: svc.hello("A"), lambda: svc.admit_frame("A")):
        with pytest.raises(NotInRoom):
            action()


def test_a_vanished_holder_loses_its_slot_a_young_or_live_one_keeps_it(world):
    repo, gw, clock, make = world
    svc = make()
    svc.connect("A", CRED, "sender", None, "ip")
    gw.gone.add("A")  # lost without $disconnect: GetConnection says gone
    with pytest.raises(RoomFull):  # but it may still be finishing its upgrade
        svc.connect("B", CRED, "sender", None, "ip")
    assert gw.asked == []
    clock.now += ADMISSION_GRACE_SECONDS
    conn, replaced = svc.connect("B", CRED, "sender", None, "ip")
    assert replaced == "A" and gw.asked == ["A"]
    assert repo.slots[(ROOM, "sender")].connection_id == "B" and "A" not in repo.connections
    clock.now += ADMISSION_GRACE_SECONDS
    with pytest.raises(RoomFull):  # B is alive: the slot stays taken
        svc.connect("C", CRED, "sender", None, "ip")
    assert gw.asked == ["A", "B"]


def test_a_410_to_a_peer_still_being_admitted_does_not_evict_it(world):
    repo, gw, clock, make = world
    svc = make()
    svc.connect("B", CRED, "receiver", None, "ip")
    clock.now += 600
    svc.connect("A", CRED, "sender", None, "ip")  # its upgrade is not finished yet
    gw.gone.add("A")
    svc.disconnect("B")  # tells A peer-left: 410
    assert repo.slots[(ROOM, "sender")].connection_id == "A" and "A" in repo.connections
