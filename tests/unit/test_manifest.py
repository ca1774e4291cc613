import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transfer_core.errors import ManifestError
from transfer_core.protocol.manifest import Manifest, manifest_name, name_problem

GOOD = Manifest("report.pdf", 40_000, "application/pdf", 16384, "ab" * 32, "2026-01-01T00:00:00Z")


def test_round_trip_and_canonical_form():
    data = GOOD.to_json()
    assert Manifest.from_json(data) == GOOD
    doc = json.loads(data)
    assert list(doc) == sorted(doc)
    assert b" " not in data
    assert doc["chunk_count"] == 3


def test_unicode_name_survives():
    m = Manifest("résumé ✓.txt", 1, "text/plain", 16384, "00" * 32, "2026-01-01T00:00:00Z")
    assert Manifest.from_json(m.to_json()).name == "résumé ✓.txt"


def canonical(doc: dict) -> bytes:
    """The canonical form; a lone surrogate written as the escape JSON allows for it."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return re.sub(r"[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def mutate(**changes):
    """Canonical JSON with some fields changed, so each case meets its own check."""
    doc = json.loads(GOOD.to_json())
    doc.update(changes)
    return canonical(doc)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        mutate(v=2),
        mutate(extra=1),
        mutate(name=""),
        mutate(name="x" * 256),
        mutate(size=-1),
        mutate(size="12"),
        mutate(size=True),
        mutate(record_size=100),
        mutate(chunk_count=4),
        mutate(sha256="xyz"),
    ],
)
def test_invalid_manifests_are_refused(data):
    with pytest.raises(ManifestError):
        Manifest.from_json(data)


def test_missing_field_is_refused():
    doc = json.loads(GOOD.to_json())
    del doc["created"]
    with pytest.raises(ManifestError):
        Manifest.from_json(json.dumps(doc).encode())


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../etc/passwd", "path separator"),
        ("a\\b.txt", "path separator"),
        ("dir/", "path separator"),
        ("line\nbreak.txt", "control character"),
        ("nul\x00.txt", "control character"),
        ("del\x7f.txt", "control character"),
        ("c1\x85.txt", "control character"),
        (".", "'.' or '..'"),
        ("..", "'.' or '..'"),
        ("", "1 to 255"),
        ("é" * 128, "1 to 255"),
        ("lone\ud800.txt", "not valid Unicode"),
    ],
)
def test_names_a_receiver_must_refuse(name, problem):
    assert problem in (name_problem(name) or "")
    with pytest.raises(ManifestError, match=re.escape(problem)):
        Manifest.from_json(mutate(name=name))


@pytest.mark.parametrize("name", ["a", "résumé ✓.txt", ".hidden", "a..b", " spaced ", "x" * 255])
def test_names_a_receiver_accepts(name):
    assert name_problem(name) is None
    assert Manifest.from_json(mutate(name=name)).name == name


@pytest.mark.parametrize(
    ("local", "sent"),
    [
        ("report.pdf", "report.pdf"),
        ("/home/a/report.pdf", "report.pdf"),
        ("C:\\Users\\a\\report.pdf", "report.pdf"),
        ("tab\there.txt", "tabhere.txt"),
        ("bad\udcff.bin", "bad\ufffd.bin"),  # an undecodable byte of a POSIX file name
        ("..", "file"),
        ("dir/", "file"),
        ("é" * 200, "é" * 127),  # 255 bytes would split a character: 254
    ],
)
def test_the_sender_makes_every_local_name_acceptable(local, sent):
    assert manifest_name(local) == sent
    assert name_problem(sent) is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (json.dumps(json.loads(GOOD.to_json())).encode(), "canonical"),  # spaces
        (GOOD.to_json().replace(b'"v":1', b'"v":1,"v":1'), "canonical"),  # a duplicate key
        (GOOD.to_json().replace(b"report", b"\\u0072eport"), "canonical"),  # a needless escape
        (GOOD.to_json() + b"\n", "canonical"),
        (mutate(created="2026-01-01 00:00:00"), "created"),
        (mutate(created="2026-01-01T00:00:00.5Z"), "created"),
        (mutate(media_type="text/\udc00"), "not valid Unicode"),
        (mutate(size=float("nan")), "wrong type"),
        (b"[" * 3000 + b"]" * 3000, "not JSON"),
    ],
)
def test_only_the_canonical_form_is_read(data, problem):
    with pytest.raises(ManifestError, match=problem):
        Manifest.from_json(data)


@given(st.text(max_size=400))
def test_any_local_name_becomes_one_every_receiver_reads(local):
    name = manifest_name(local)
    assert name_problem(name) is None
    m = Manifest(name, 0, "application/octet-stream", 16384, "00" * 32, "2026-01-01T00:00:00Z")
    assert Manifest.from_json(m.to_json()) == m


@given(st.text(max_size=300))
def test_a_name_is_refused_exactly_when_the_rules_say(name):
    data = mutate(name=name)
    if name_problem(name) is None:
        assert Manifest.from_json(data).name == name
    else:
        with pytest.raises(ManifestError):
            Manifest.from_json(data)
