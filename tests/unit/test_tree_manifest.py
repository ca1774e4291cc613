"""The version-2 manifest (a list of entries, #15): canonical JSON, and what is refused."""

from __future__ import annotations

import json

import pytest

from transfer_core.errors import ManifestError, UnsafePathError
from transfer_core.protocol.manifest import Manifest, parse_manifest
from transfer_core.protocol.tree import Entry, TreeManifest

SHA = "ab" * 32
GOOD = TreeManifest((
    Entry("photos", "dir", 1_767_225_600),
    Entry("photos/a.jpg", "file", 1_767_225_601, 70_000, SHA),
    Entry("photos/empty", "dir", 1_767_225_602),
    Entry("notes.txt", "file", 1_767_225_603, 0, "cd" * 32),
), 16384, "2026-01-01T00:00:00Z")


def test_round_trip_canonical_and_sizes():
    data = GOOD.to_json()
    assert parse_manifest(data) == GOOD
    doc = json.loads(data)
    assert list(doc) == sorted(doc) and b" " not in data
    assert doc["v"] == 2 and doc["size"] == 70_000 and doc["chunk_count"] == 5
    assert list(doc["entries"][0]) == ["kind", "mtime", "path"]
    assert list(doc["entries"][1]) == ["kind", "mtime", "path", "sha256", "size"]
    assert GOOD.name == "2 files"


def test_one_file_manifests_are_still_read():
    one = Manifest("a.txt", 1, "text/plain", 16384, SHA, "2026-01-01T00:00:00Z")
    assert parse_manifest(one.to_json()) == one


def test_spans_cut_the_stream_at_entry_boundaries():
    m = TreeManifest((
        Entry("a", "file", 0, 3, SHA), Entry("d", "dir", 0), Entry("e", "file", 0, 0, SHA),
        Entry("b", "file", 0, 5, SHA),
    ), 16384, "2026-01-01T00:00:00Z")
    assert m.spans(0, 8) == [(0, 0, 3), (3, 0, 5)]
    assert m.spans(2, 3) == [(0, 2, 1), (3, 0, 2)]
    assert m.spans(4, 4) == [(3, 1, 4)]


def mutate(change):
    doc = json.loads(GOOD.to_json())
    change(doc)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _set(key, value):
    return lambda d: d.__setitem__(key, value)


def _entry(index, key, value):
    return lambda d: d["entries"][index].__setitem__(key, value)


@pytest.mark.parametrize("change", [
    _set("entries", []),
    _set("extra", 1),
    _set("size", 69_999),
    _set("chunk_count", 4),
    _set("record_size", 100),
    _set("created", "yesterday"),
    _entry(1, "sha256", "AB" * 32),
    _entry(1, "size", -1),
    _entry(1, "size", True),
    _entry(1, "kind", "link"),
    _entry(0, "size", 0),  # a folder has no size
    _entry(1, "mtime", -5),
    lambda d: d["entries"][1].pop("sha256"),
])
def test_invalid_lists_are_refused(change):
    with pytest.raises(ManifestError):
        parse_manifest(mutate(change))


def test_an_unsafe_path_is_refused_with_its_reason():
    with pytest.raises(UnsafePathError) as caught:
        parse_manifest(mutate(_entry(1, "path", "../escape.jpg")))
    assert caught.value.reason == "dot-segment"


def test_non_canonical_bytes_are_refused():
    doc = json.loads(GOOD.to_json())
    with pytest.raises(ManifestError, match="canonical"):
        parse_manifest(json.dumps(doc, sort_keys=True).encode())
