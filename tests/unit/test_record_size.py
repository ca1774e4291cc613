"""One default record size everywhere (docs/protocol.md §3, §8): the constant, the CLI, the page."""

import re
from pathlib import Path

from transfer_core.cli import build_parser
from transfer_core.protocol.layout import DEFAULT_RECORD_SIZE, MAX_RECORD_SIZE, MIN_RECORD_SIZE
from transfer_core.webrtc.channel import (
    PREFERRED_RECORD_SIZE,
    negotiated_max_message_size,
    record_size_for,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_is_128_kib_within_the_protocol_bounds():
    assert DEFAULT_RECORD_SIZE == 128 * 1024
    assert MIN_RECORD_SIZE <= DEFAULT_RECORD_SIZE <= MAX_RECORD_SIZE


def test_the_data_channel_and_the_cli_prefer_the_default():
    assert PREFERRED_RECORD_SIZE == DEFAULT_RECORD_SIZE
    args = build_parser().parse_args(["send", "some-file"])
    assert args.record_size * 1024 == DEFAULT_RECORD_SIZE


def test_the_page_prefers_the_default():
    protocol_js = (ROOT / "web/js/protocol.js").read_text()
    match = re.search(r"PREFERRED_RECORD_SIZE = (\d+) \* 1024;", protocol_js)
    assert match is not None
    assert int(match.group(1)) * 1024 == DEFAULT_RECORD_SIZE
    app_js = (ROOT / "web/js/app.js").read_text()
    assert f'Number(q.get("record")) || {DEFAULT_RECORD_SIZE // 1024})' in app_js


def sdp(max_message_size: int | None) -> str:
    line = "" if max_message_size is None else f"a=max-message-size:{max_message_size}\r\n"
    return f"v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n{line}"


def test_the_formula_of_section_8_reaches_every_size_the_protocol_allows():
    # R = max(16 KiB, min(P, M, 256 KiB)): M is 65536 when absent, 0 means any size
    choose = lambda p, m: record_size_for(negotiated_max_message_size(sdp(m)), p)  # noqa: E731
    assert choose(DEFAULT_RECORD_SIZE, None) == 65536  # a peer that says nothing
    assert choose(DEFAULT_RECORD_SIZE, 262144) == 131072  # Chromium, aiortc
    assert choose(262144, 262144) == 262144  # 256 KiB is reachable
    assert choose(262144, 0) == 262144
    assert choose(262144, None) == 65536
    assert choose(65536, 16384) == 16384
    assert choose(65536, 1200) == 16384  # floored: 16 KiB always interoperates
    assert choose(65536, 10**9) == 65536
