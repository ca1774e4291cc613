"""Cross-implementation vectors of the spoken-code exchange (docs/protocol.md §11).

`compute()` runs both sides with pinned scalars; the result is committed as
`docs/code-vectors.json` and in protocol.md, and the page's self-test checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import cpace
from .handshake import SID, CodeHandshake, channel_identifier
from .keys import derive_keys
from .spoken import SpokenCode

CODE = "7-guitarist-revenge-amulet"
SCALAR_RECEIVER = bytes(range(0x40, 0x60))
SCALAR_SENDER = bytes(range(0x60, 0x80))


def _fixed(value: bytes) -> Callable[[int], bytes]:
    return lambda n: value[:n]


def compute() -> dict[str, Any]:
    """Both sides of one exchange, every intermediate value in hex."""
    code = SpokenCode.parse(CODE)
    receiver = CodeHandshake("receiver", code, _fixed(SCALAR_RECEIVER))
    sender = CodeHandshake("sender", code, _fixed(SCALAR_SENDER))
    m1 = receiver.start()
    m2 = sender.answer(m1)
    m3 = receiver.finish(m2)
    secret = sender.verify(m3)
    assert receiver.secret == secret
    ci = channel_identifier(code.nameplate)
    return {
        "code": CODE,
        "password": code.password.decode(),
        "ci_hex": ci.hex(),
        "generator_hex": cpace.calculate_generator(code.password, ci, SID).hex(),
        "scalar_receiver_hex": cpace.sample_scalar(_fixed(SCALAR_RECEIVER)).hex(),
        "scalar_sender_hex": cpace.sample_scalar(_fixed(SCALAR_SENDER)).hex(),
        "messages": [m1, m2, m3],
        "secret_code": secret.code,
        "room_id": derive_keys(secret).room_id,
    }
