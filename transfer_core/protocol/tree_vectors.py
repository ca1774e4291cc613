"""Test vectors of revision 2.1 (#15): many files in one transfer (the `tree` group of
docs/test-vectors.json, computed by `vectors.compute`)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..errors import UnsafePathError
from ..tree_source import TreeSource, collect
from .paths import check_path, check_tree
from .record import split_manifest_records

MTIME = 1_767_225_600  # 2026-01-01T00:00:00Z
LONG_LIST = 60
"""Files in the long-list case: enough JSON for three manifest records."""

UNSAFE_PATHS = [
    "", "/etc/passwd", "C:/Windows/win.ini", "..", "../outside", "a/../../outside", "a/./b",
    "a//b", "a/", "a\\b", "line\nbreak", "del\u007f", "CON", "nul.txt", "folder/COM1",
    "lpt9.log", "x" * 256,
]
SAFE_PATHS = ["a.txt", "photos/2026/a.jpg", "résumé ✓.pdf", "CONSOLE", "COM10", ".hidden"]
CLASHING_LISTS = [
    [["Report.pdf", "file"], ["report.PDF", "file"]],
    [["caf\u00e9.txt", "file"], ["cafe\u0301.txt", "file"]],
    [["Stra\u00dfe", "dir"], ["STRASSE", "dir"]],
    [["notes", "file"], ["notes/inside.txt", "file"]],
]


def _reason(check: Any) -> str | None:
    try:
        check()
    except UnsafePathError as exc:
        return exc.reason
    return None


def _fixed(found: Any) -> Any:
    for _, _, local in found.entries:
        os.utime(local, (MTIME, MTIME))
    return found


def tree_group(directory: Path, file_key: bytes, transfer_id: bytes, created: str,
               small: bytes, large: bytes) -> dict[str, Any]:
    """A folder `vectors` with a folder, an empty folder, an empty file and two files."""
    root = directory / "tree" / "vectors"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "empty").mkdir()
    (root / "hello.txt").write_bytes(small)
    (root / "sub" / "empty.txt").write_bytes(b"")
    (root / "sub" / "pattern.bin").write_bytes(large)
    source = TreeSource.create(_fixed(collect([root])), file_key, 16384,
                               randbytes=lambda n: transfer_id[:n], clock=lambda: created)
    long_root = directory / "tree" / "long"
    long_root.mkdir()
    for i in range(LONG_LIST):
        (long_root / f"file-{i:04d}.txt").write_bytes(b"%d\n" % i)
    long = TreeSource.create(_fixed(collect([long_root])), file_key, 16384,
                             randbytes=lambda n: transfer_id[:n], clock=lambda: created)
    long_records = split_manifest_records(long.manifest_record)
    return {
        "content": "vectors/hello.txt is the small file, vectors/sub/pattern.bin the large"
                   " one; every mtime is 2026-01-01T00:00:00Z",
        "manifest_json": source.manifest.to_json().decode(),
        "manifest_record_hex": source.manifest_record.hex(),
        "record_sha256": [hashlib.sha256(source.record(i)).hexdigest()
                          for i in range(source.layout.count)],
        "long_list": {
            "content": f"folder long holding file-0000.txt … file-{LONG_LIST - 1:04d}.txt,"
                       " file i holding the ASCII decimal i and a newline",
            "manifest_json_sha256": hashlib.sha256(long.manifest.to_json()).hexdigest(),
            "manifest_json_bytes": len(long.manifest.to_json()),
            "manifest_records_sha256": [hashlib.sha256(r).hexdigest() for r in long_records],
            "manifest_record_lengths": [len(r) for r in long_records],
        },
        "paths": [{"path": p, "reason": _reason(lambda p=p: check_path(p))}
                  for p in SAFE_PATHS + UNSAFE_PATHS],
        "lists": [{"entries": entries,
                   "reason": _reason(lambda e=entries: check_tree((p, k == "dir")
                                                                  for p, k in e))}
                  for entries in CLASHING_LISTS],
    }
