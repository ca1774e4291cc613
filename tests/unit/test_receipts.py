"""Receipts (#15): the documented vector, what is refused, and how the router keeps them
apart from the connection attempts (one attempt per receiver)."""

import asyncio
import json
import re
from pathlib import Path

import pytest

from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.secret import TransferSecret
from transfer_core.session.control import Done, ProtocolError, decode_control
from transfer_core.session.receipt import Receipt, ReceiptBox, ReceiptError, receiver_id
from transfer_core.session.signals import SignalRouter
from transfer_core.signalling.client import Peer, SignalReceived
from transfer_core.signalling.envelope import SignedMessage

from .test_signed_signalling import RelayStandIn

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
KEYS = derive_keys(TransferSecret(bytes(range(32))))
MANIFEST = b"sealed manifest record of the vector"


def documented_vector() -> dict:
    text = DOC.read_text()
    block = re.search(r"<!-- receipt-vector -->\n```json\n(.*?)```", text, re.S)
    assert block, "docs/protocol.md has no receipt vector"
    return json.loads(block.group(1))


def receipt(**changes) -> Receipt:
    made = Receipt.for_transfer(receiver_id("t" * 32), MANIFEST, 3, 40000, "p2p", at=1796000000)
    return Receipt(**{**made.to_json(), **changes})


def test_the_documented_vector_is_what_the_code_makes_and_verifies():
    vector = documented_vector()
    assert bytes.fromhex(vector["secret_hex"]) == bytes(range(32))
    made = Receipt.for_transfer(receiver_id(vector["receiver_token"]),
                                vector["manifest_record_utf8"].encode(), 3, 40000, "p2p",
                                at=1796000000)
    assert made.receiver == vector["receiver_id"]
    assert made.to_payload(KEYS.signal_key, "22" * 16) == vector["payload"]
    assert Receipt.verify(vector["payload"], KEYS.signal_key, MANIFEST) == made


@pytest.mark.parametrize("field", ["data", "nonce", "mac", "role"])
def test_a_forged_receipt_is_refused(field):
    payload = receipt().to_payload(KEYS.signal_key)
    payload[field] = payload[field][:-1] + ("0" if payload[field][-1] != "0" else "1")
    with pytest.raises(ReceiptError, match="refused"):
        Receipt.verify(payload, KEYS.signal_key, MANIFEST)


def test_an_unsigned_receipt_is_refused():
    payload = receipt().to_payload(KEYS.signal_key)
    del payload["mac"]
    with pytest.raises(ReceiptError, match="unsigned"):
        Receipt.verify(payload, KEYS.signal_key, MANIFEST)


def test_a_receipt_under_another_link_or_for_another_transfer_is_refused():
    with pytest.raises(ReceiptError):
        Receipt.verify(receipt().to_payload(bytes(32)), KEYS.signal_key, MANIFEST)
    with pytest.raises(ReceiptError, match="another transfer"):
        Receipt.verify(receipt().to_payload(KEYS.signal_key), KEYS.signal_key, b"other")


def test_a_receipt_written_by_the_sender_role_is_refused():
    forged = SignedMessage("receipt", "sender", "33" * 16, "", receipt().data())
    with pytest.raises(ReceiptError):
        Receipt.verify(forged.to_payload(KEYS.signal_key), KEYS.signal_key, MANIFEST)


@pytest.mark.parametrize("changes", [{"path": "usb"}, {"records": -1}, {"size": "40000"},
                                     {"at": True}])
def test_a_signed_but_malformed_receipt_is_refused(changes):
    payload = receipt(**changes).to_payload(KEYS.signal_key)
    with pytest.raises(ReceiptError, match="malformed"):
        Receipt.verify(payload, KEYS.signal_key, MANIFEST)


def test_the_box_keeps_verified_receipts_and_counts_refusals():
    box = ReceiptBox(KEYS.signal_key, MANIFEST)
    good = receipt()
    assert box.offer(good.to_payload(KEYS.signal_key)) == good
    assert box.offer(good.to_payload(bytes(32))) is None
    assert box.offer({"kind": "receipt"}) is None
    assert list(box.verified.values()) == [good] and box.refused == 2


async def test_the_router_queues_receipts_and_a_forged_one_stops_nothing():
    relay = RelayStandIn()
    router = SignalRouter(relay, KEYS.signal_key, "sender")  # type: ignore[arg-type]
    forged = receipt().to_payload(bytes(32))
    relay.events.put_nowait(SignalReceived(Peer("rx1", "receiver"), forged))
    relay.events.put_nowait(SignalReceived(Peer("rx2", "receiver"),
                                           receipt().to_payload(KEYS.signal_key)))
    box = ReceiptBox(KEYS.signal_key, MANIFEST)
    await box.gather(router.receipts, 1, timeout=5)
    assert len(box.verified) == 1 and box.refused == 1
    assert not router.refusal.done()  # unlike a forged offer, it refuses no connection
    await router.close()


async def test_the_router_keeps_one_attempt_per_receiver():
    relay = RelayStandIn()
    router = SignalRouter(relay, KEYS.signal_key, "sender")  # type: ignore[arg-type]
    one = router.attempt("rx1", "a" * 32)
    two = router.attempt("rx2", "b" * 32)
    await router.send(one, "offer", "sdp-1")
    await router.send(two, "offer", "sdp-2")
    assert [to for _, to in relay.sent] == ["rx1", "rx2"]
    # each answer reaches its own attempt, whatever the order
    for peer, attempt, peer_nonce in (("rx2", two, "b" * 32), ("rx1", one, "a" * 32)):
        answer = SignedMessage("answer", "receiver", peer_nonce, attempt.nonce, f"ans-{peer}")
        relay.events.put_nowait(SignalReceived(Peer(peer, "receiver"),
                                               answer.to_payload(KEYS.signal_key)))
    assert await asyncio.wait_for(one.receive_description("answer"), 5) == "ans-rx1"
    assert await asyncio.wait_for(two.receive_description("answer"), 5) == "ans-rx2"
    # an answer from rx1 to rx2's attempt is a replay, refused
    crossed = SignedMessage("answer", "receiver", "a" * 32, two.nonce, "x")
    relay.events.put_nowait(SignalReceived(Peer("rx1", "receiver"),
                                           crossed.to_payload(KEYS.signal_key)))
    await asyncio.wait_for(router.refusal, 5)
    await router.close()


def test_the_receipt_rides_in_done_as_documented():
    """Revision 2.2 (#10 §6): a receiver that finished over the data channel hands its
    receipt over in `done`; the documented text decodes to the receipt vector."""
    text = DOC.read_text()
    block = re.search(r"<!-- done-vector -->\n```json\n(.*?)```", text, re.S)
    assert block, "docs/protocol.md has no done vector"
    done = decode_control(block.group(1).strip())
    assert isinstance(done, Done) and done.receipt == documented_vector()["payload"]
    assert Receipt.verify(done.receipt, KEYS.signal_key, MANIFEST).receiver == "22256f56dbc71837"
    assert decode_control(Done(done.receipt).encode()) == done
    # a 2.1 receiver's bare `done` still reads, with no receipt (it sent it by the relay)
    assert decode_control(Done().encode()) == Done(None)
    bare = decode_control('{"t":"done"}')
    assert isinstance(bare, Done) and bare.receipt is None


@pytest.mark.parametrize("receipt", ['"a receipt"', "[1, 2]", "3"])
def test_a_done_whose_receipt_is_not_an_object_is_a_protocol_error(receipt):
    with pytest.raises(ProtocolError, match="receipt"):
        decode_control('{"t": "done", "receipt": ' + receipt + "}")
