"""A folder of 2 GiB over four files (#15 §5), `send` CLI → `receive` CLI through the local
stack, by storage (moto S3 over HTTP: the fastest honest path here; peer to peer, aiortc
moves ~7 MB/s, five minutes for this). The output is byte-identical to the source, and
memory stays flat: each CLI's peak RSS stays under a bound set from a 64 MiB transfer.

The content is cheap to make and to check without holding it: one random 1 MiB block,
every 4 KiB of which is stamped with its file and offset, so a record written at the
wrong place, in the wrong file, or twice, fails the comparison.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devstack.process import DevStackProcess

from .peers import FAST, Peer

pytestmark = pytest.mark.e2e

MIB = 1 << 20
FILES = 4
FILE_MIB = 512
"""4 x 512 MiB = 2 GiB."""
STAMP_EVERY = 4096
PEAK_RSS_MIB = 200
"""Either CLI's bound. A 64 MiB transfer through storage peaks at ~95 MiB (sender, four
8 MiB parts in flight) and ~85 MiB (receiver); holding one 512 MiB file, or the parts of
the whole upload, would be far above it."""
MOTO_PEAK_RSS_MIB = 1024
"""moto keeps objects and parts on disk (devstack/moto_large_objects.py) and peaked at
~600 MiB here (request bodies, four parts at a time, and its allocator); joining the
upload in memory, or reading the whole object for each range, takes 4-8 GiB."""


class Blocks:
    """The files' bytes, block by block, made again on demand."""

    def __init__(self) -> None:
        self.base = os.urandom(MIB)
        self._stamp = struct.Struct(">IQ")

    def block(self, file: int, index: int) -> bytes:
        out = bytearray(self.base)
        offset = index * MIB
        for at in range(0, MIB, STAMP_EVERY):
            self._stamp.pack_into(out, at, file, offset + at)
        return bytes(out)

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir()
        paths = []
        for file in range(FILES):
            path = folder / f"part-{file}.bin"
            with open(path, "wb") as fh:
                for index in range(FILE_MIB):
                    fh.write(self.block(file, index))
            paths.append(path)
        return paths

    def mismatches(self, folder: Path) -> Iterator[str]:
        """Where the files under `folder` differ from the source (nothing if identical)."""
        for file in range(FILES):
            path = folder / f"part-{file}.bin"
            if path.stat().st_size != FILE_MIB * MIB:
                yield f"{path.name}: {path.stat().st_size} bytes"
                continue
            with open(path, "rb") as fh:
                for index in range(FILE_MIB):
                    if fh.read(MIB) != self.block(file, index):
                        yield f"{path.name}: MiB {index}"
                        break


@pytest.fixture(scope="module")
def big_stack(tmp_path_factory):
    record = tmp_path_factory.mktemp("stack") / "relayed.jsonl"
    process = DevStackProcess(record_to=record)
    with process as info:
        moto = [p for p in psutil.Process(process.pid).children(recursive=True)
                if "devstack.moto_server" in " ".join(p.cmdline())]
        assert len(moto) == 1, moto
        yield info, moto[0]


def _peak_mib(process: psutil.Process) -> float:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {process.pid}")


@pytest.mark.timeout(1200)
async def test_two_gib_over_four_files_through_storage(big_stack, tmp_path):
    info, moto = big_stack
    blocks = Blocks()
    src, out = tmp_path / "big", tmp_path / "out"
    try:
        blocks.write(src)
        # nobody is waiting: stored at once
        sender = await Peer.start_measured("send", str(src), "--server", info.ws_url, *FAST,
                                           "--p2p-timeout", "0")
        link = await sender.next_event(timeout=600)  # after hashing 2 GiB
        assert link["event"] == "link", link
        sent = await sender.finish(timeout=1000)
        assert sent.code == 0, sent.stderr[-3000:]
        stored = sent.event("summary")
        assert stored["path"] == "s3" and stored["size"] == FILES * FILE_MIB * MIB
        shutil.rmtree(src)  # what is checked below is made again from `blocks`

        receiver = await Peer.start_measured("receive", link["code"], "-o", str(out),
                                             "--server", info.ws_url, *FAST)
        received = await receiver.finish(timeout=1000)
        assert received.code == 0, received.stderr[-3000:]
        summary = received.event("summary")
        assert summary["path"] == "s3" and summary["sha256_verified"] is True
        assert sorted(e["path"] for e in summary["entries"] if e["kind"] == "file") == [
            f"big/part-{i}.bin" for i in range(FILES)]
        assert list(blocks.mismatches(out / "big")) == []

        peaks = {"sender": sent.event("rss")["peak_kib"] / 1024,
                 "receiver": received.event("rss")["peak_kib"] / 1024, "moto": _peak_mib(moto)}
        print(f"peak RSS (MiB): {peaks}; stored in {stored['seconds']:.0f} s, fetched in"
              f" {summary['seconds']:.0f} s")  # shown with -rP
        assert max(peaks["sender"], peaks["receiver"]) < PEAK_RSS_MIB, f"peak RSS (MiB): {peaks}"
        assert peaks["moto"] < MOTO_PEAK_RSS_MIB, f"peak RSS (MiB): {peaks}"
    finally:  # 4 GiB on disk: not left for pytest's kept temporary folders
        shutil.rmtree(src, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
