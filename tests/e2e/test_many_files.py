"""Many files and folders in one transfer (#15 §1), between real CLI processes on the local
stack: peer to peer and through storage (moto S3 over HTTP), nested folders, an empty file
and an empty folder, 1,000 small files, and memory that stays flat for larger files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.secret import TransferSecret

from .peers import FAST, Peer, receive, transfer
from .test_s3_fallback import bucket_objects

pytestmark = pytest.mark.e2e


def make_tree(root: Path) -> list[Path]:
    """Nested folders, an empty file, an empty folder, a symlink (skipped), and a file
    beside the folder: the arguments `send photos notes.txt` would get."""
    (root / "photos" / "2026" / "deep").mkdir(parents=True)
    (root / "photos" / "empty folder").mkdir()
    (root / "photos" / "2026" / "deep" / "a.jpg").write_bytes(os.urandom(300_000))
    (root / "photos" / "2026" / "b.jpg").write_bytes(os.urandom(65_000))
    (root / "photos" / "empty.txt").write_bytes(b"")
    (root / "photos" / "résumé.pdf").write_bytes(os.urandom(1000))
    (root / "photos" / "link.jpg").symlink_to(root / "photos" / "2026" / "b.jpg")
    (root / "notes.txt").write_text("remember the milk\n")
    return [root / "photos", root / "notes.txt"]


def tree_of(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under `root`, by relative path."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        if ".sgraph-send-" in str(path):
            continue
        rel = path.relative_to(root).as_posix()
        out[rel] = None if path.is_dir() else path.read_bytes()
    return out


def expected(src: Path) -> dict[str, bytes | None]:
    tree = tree_of(src)
    tree.pop("photos/link.jpg")  # links inside folders are not followed
    return tree


async def send_paths(server: str, paths: list[Path], *extra: str) -> tuple[Peer, dict]:
    sender = await Peer.start("send", *map(str, paths), "--server", server, *FAST, *extra)
    link = await sender.next_event()
    while link["event"] != "link":  # `skipped` events come first
        link = await sender.next_event()
    return sender, link


async def test_a_folder_tree_peer_to_peer(stack, tmp_path):
    paths = make_tree(tmp_path / "src")
    sender, link = await send_paths(stack.url, paths, "--p2p-timeout", "30")
    assert any(e["event"] == "skipped" and e["path"].endswith("link.jpg")
               for e in sender.events)
    out = tmp_path / "out"
    # the channel breaks once mid-way (inside photos/2026/deep/a.jpg): the transfer resumes
    received = await receive(stack.url, link["code"], out, "--fault-drop-after", "150000")
    sent = await sender.finish()
    assert received.code == 0, received.stderr[-2000:]
    assert sent.code == 0, sent.stderr[-2000:]
    assert tree_of(out) == expected(tmp_path / "src")
    summary = received.event("summary")
    assert summary["path"] == "p2p" and summary["sha256_verified"] is True
    assert summary["reconnects"] == 1
    listed = {e["path"]: e["kind"] for e in summary["entries"]}
    assert listed["photos/empty folder"] == "dir" and listed["photos/empty.txt"] == "file"
    assert summary["size"] == 300_000 + 65_000 + 1000 + 18
    progress = [e for e in received.events if e["event"] == "progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"] == summary["size"]
    assert {p["entry"] for p in progress} <= set(listed)
    assert not list(out.glob(".sgraph-send-*")), "work folder left behind"


async def test_a_folder_tree_through_storage_and_nothing_named_reaches_s3(stack, tmp_path):
    paths = make_tree(tmp_path / "src")
    for i in range(80):  # a list longer than one manifest record (4 KiB)
        (tmp_path / "src" / "photos" / f"thumbnail-{i:03d}.jpg").write_bytes(os.urandom(100))
    sender, link = await send_paths(stack.url, paths, "--p2p-timeout", "0")
    sent = await sender.finish()
    assert sent.code == 0, sent.stderr[-2000:]
    assert sent.event("summary")["path"] == "s3"
    room = derive_keys(TransferSecret.parse(link["code"])).room_id
    stored = {k: v for k, v in bucket_objects(stack).items() if room in k}
    manifest = stored[f"transfers/{room}/manifest"]
    assert len(manifest) > 2 * (64 + 4096)  # several sealed manifest records, end to end
    for key, body in stored.items():  # zero knowledge: no name, in a key or in a body
        for name in (b"photos", b"notes", "résumé".encode(), b"empty folder"):
            assert name not in key.encode() and name not in body
    out = tmp_path / "out"
    received = await receive(stack.url, link["code"], out)
    assert received.code == 0, received.stderr[-2000:]
    assert received.event("summary")["path"] == "s3"
    assert tree_of(out) == expected(tmp_path / "src")


async def test_a_thousand_small_files(stack, tmp_path):
    src = tmp_path / "small"
    src.mkdir()
    for i in range(1000):
        (src / f"{i:04d}.txt").write_bytes(os.urandom(4096))
    sent, received = await transfer(stack.url, src, tmp_path / "out")
    assert received.code == 0, received.stderr[-2000:]
    assert sent.code == 0, sent.stderr[-2000:]
    assert tree_of(tmp_path / "out" / "small") == tree_of(src)
    assert len(received.event("summary")["entries"]) == 1001


async def test_an_unsafe_name_is_refused_by_the_sender(stack, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "CON.txt").write_text("a device name on Windows")
    sender = await Peer.start("send", str(src), "--server", stack.url, *FAST)
    run = await sender.finish()
    assert run.code == 3
    error = run.event("error")
    assert error["error"] == "UnsafePathError" and "CON.txt" in error["message"]


async def _peaks(server: str, src: Path, out: Path) -> tuple[int, int]:
    sender = await Peer.start_measured("send", str(src), "--server", server, *FAST,
                                       "--p2p-timeout", "30")
    link = await sender.next_event()
    receiver = await Peer.start_measured("receive", link["code"], "-o", str(out),
                                         "--server", server, *FAST)
    received = await receiver.finish(timeout=300)
    sent = await sender.finish(timeout=300)
    assert received.code == 0, received.stderr[-2000:]
    assert sent.code == 0, sent.stderr[-2000:]
    return sent.event("rss")["peak_kib"], received.event("rss")["peak_kib"]


async def test_memory_stays_flat_over_a_few_large_files(stack, tmp_path):
    """64 MiB over four files against 1 MiB over four, in the same run: neither side's peak
    RSS grows with the data (the full 2 GiB case: bench/bench_files.py)."""
    peaks = {}
    for label, each in (("small", 256 << 10), ("large", 16 << 20)):
        src = tmp_path / label
        src.mkdir()
        for i in range(4):
            with open(src / f"part-{i}.bin", "wb") as fh:
                for _ in range(each // (256 << 10)):
                    fh.write(os.urandom(256 << 10))
        peaks[label] = await _peaks(stack.url, src, tmp_path / f"out-{label}")
        assert tree_of(tmp_path / f"out-{label}" / label) == tree_of(src)
    grown = [(large - small) / 1024 for small, large in zip(peaks["small"], peaks["large"],
                                                             strict=True)]
    # 63 MiB more data; a process holding it would grow by that much
    assert max(grown) < 24, f"peak RSS grew by {grown} MiB (sender, receiver): {peaks}"
