"""The examples in docs/signalling.md §2 are what a client really sends (protocol.md §7)."""

import json
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
ENVELOPE_FIELDS = {"v", "kind", "role", "nonce", "reply_to", "data", "mac"}


def section_2_examples() -> list[dict]:
    text = (DOCS / "signalling.md").read_text()
    section = text[text.index("## 2. After connecting"):text.index("\n## 3.")]
    blocks = re.findall(r"```json\n(.*?)\n```", section, re.S)
    return [json.loads(line) for block in blocks for line in block.splitlines()]


def test_every_signal_payload_example_is_a_signed_envelope():
    examples = section_2_examples()
    payloads = [m["payload"] for m in examples
                if m.get("action") == "signal" or m.get("type") == "signal"]
    assert len(payloads) >= 3
    for payload in payloads:
        assert set(payload) == ENVELOPE_FIELDS, payload
        assert payload["v"] == 1
        assert payload["kind"] in {"ready", "offer", "answer", "candidate", "bye"}
        assert payload["role"] in {"sender", "receiver"}
        assert re.fullmatch(r"[0-9a-f]{32}", payload["nonce"])
        assert re.fullmatch(r"[0-9a-f]{32}|", payload["reply_to"])
        assert re.fullmatch(r"[0-9a-f]{64}|<64 hex>", payload["mac"])


def test_a_relayed_signal_names_the_author_role_the_envelope_carries():
    for message in section_2_examples():
        if message.get("type") == "signal":
            assert message["role"] == message["payload"]["role"]


def test_the_offer_example_is_the_committed_vector():
    vector = json.loads((DOCS / "test-vectors.json").read_text())["signal_envelope"]
    offers = [m["payload"] for m in section_2_examples()
              if m.get("action") == "signal" and m["payload"]["kind"] == "offer"]
    assert offers == [vector]
