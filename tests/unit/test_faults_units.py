"""Pure pieces of the fault fixes (#11): codes that begin with `-`, URL redaction,
records of finished transfers."""

from __future__ import annotations

import itertools

import pytest

from transfer_core.cli import build_parser, codes_as_operands
from transfer_core.protocol.secret import TransferSecret
from transfer_core.s3.http import redact_urls
from transfer_core.session.state import DoneRecord, DoneRecords

DASH_RAW = bytes([0xF8]) + bytes(31)  # top six bits 62: the code begins with "-"


def test_a_new_code_never_begins_with_a_dash():
    draws = itertools.chain([DASH_RAW, DASH_RAW], itertools.repeat(bytes(32)))
    secret = TransferSecret.generate(lambda n: next(draws))
    assert not secret.code.startswith("-")
    assert TransferSecret(DASH_RAW).code.startswith("-")  # such codes exist (older links)


@pytest.mark.parametrize("argv", [
    ["receive", "{c}", "-o", "out", "--server", "ws://127.0.0.1:1"],
    ["receive", "-o", "out", "{c}"],
    ["receive", "-o", "out", "--", "{c}"],
])
def test_a_dash_code_is_the_receive_link(argv):
    code = TransferSecret(DASH_RAW).code
    args = build_parser().parse_args(codes_as_operands([a.format(c=code) for a in argv]))
    assert args.link == code and args.output == "out"


@pytest.mark.parametrize("argv", [
    ["send", "f.bin", "--resume", "{c}", "--server", "ws://x"],
    ["send", "f.bin", "--server", "ws://x", "--resume", "{c}"],
    ["send", "f.bin", "--resume={c}"],
])
def test_a_dash_code_is_the_resume_value(argv):
    code = TransferSecret(DASH_RAW).code
    args = build_parser().parse_args(codes_as_operands([a.format(c=code) for a in argv]))
    assert args.resume == code and args.files == ["f.bin"]


def test_options_are_left_alone():
    argv = ["receive", "abc", "-o", "out", "--reconnect-grace", "3", "-v"]
    assert codes_as_operands(argv) == argv


def test_presigned_urls_are_cut_out():
    url = ("http://127.0.0.1:5000/bucket/transfers/r/records/0000000000?uploadId=x&partNumber=2"
           "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=testing&X-Amz-Signature=abcdef")
    text = redact_urls(f"Max retries exceeded with url: {url} (Caused by reset)")
    assert "X-Amz" not in text and "abcdef" not in text and "<presigned URL>" in text
    assert redact_urls("see https://send.sgraph.ai/#code") == "see https://send.sgraph.ai/#code"


def test_done_records_round_trip(tmp_path):
    records = DoneRecords(tmp_path)
    assert records.get("room", "receiver") is None
    records.save("room", DoneRecord("receiver", "a.bin", "/x/a.bin"))
    got = records.get("room", "receiver")
    assert got is not None and got.destination == "/x/a.bin" and got.finished > 0
    assert records.get("room", "sender") is None


def test_the_printed_hints_parse_as_pasted(tmp_path):
    import shlex
    from pathlib import Path

    from transfer_core.cli import hints

    code = TransferSecret(DASH_RAW).code
    receive, resume = hints(Path("my file.bin"), code, "ws://127.0.0.1:9/")
    for hint, field in ((receive, "link"), (resume, "resume")):
        argv = shlex.split(hint)[1:]
        # as pasted, and also without the rewriting of `main` (an older CLI reads them too)
        for parsed in (build_parser().parse_args(argv),
                       build_parser().parse_args(codes_as_operands(argv))):
            assert getattr(parsed, field) == code and parsed.server == "ws://127.0.0.1:9/"
    assert build_parser().parse_args(shlex.split(resume)[1:]).files == ["my file.bin"]
    _, several = hints([Path("a b"), Path("c")], code, "ws://127.0.0.1:9/")
    assert build_parser().parse_args(shlex.split(several)[1:]).files == ["a b", "c"]
