import json

import pytest

from transfer_core.errors import ManifestError
from transfer_core.protocol.manifest import Manifest

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


def mutate(**changes):
    doc = json.loads(GOOD.to_json())
    doc.update(changes)
    return json.dumps(doc).encode()


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
