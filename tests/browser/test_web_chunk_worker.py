"""The receiving page's chunk worker (web/js/hasher.js, chunk-worker.js) and the resumable
OPFS sink writing through it (web/js/resume.js): each verified chunk moves to the worker
once, which hashes it and writes it into the open segment in batches; what a reload
leaves on disk is whole verified chunks, and a segment cut inside a chunk is not used."""

from __future__ import annotations

import pytest

from .conftest import Stack
from .test_web_client import open_send_page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

RECORD = 64 * 1024
CHUNK = RECORD - 48
SEGMENT_CHUNKS = 65  # the first whole chunk count at or past 4 MiB

# A 90-chunk file written through the worker, chunk by chunk as the session does; the
# page reports what it saw. `mode`: "finish" (the whole file, then the blob), "plain"
# (the same without the worker writing), "reload"
# (the worker dies 90 chunks in, as at a reload; the folder is reopened), "torn" (as
# reload, then the second segment cut inside a chunk).
WRITE_THROUGH = """async ([mode, chunk, record]) => {
  const { receiverHasher } = await import("./js/hasher.js");
  const { ResumableSink } = await import("./js/resume.js");
  const { Layout } = await import("./js/protocol.js");
  const { hex } = await import("./js/bytes.js");
  const count = 90, size = count * chunk - 1000;
  const data = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(data.subarray(at, Math.min(size, at + 65536)));
  }
  const sha256 = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)));
  const manifest = { media_type: "application/octet-stream", layout: new Layout(size, record),
                     size, record_size: record, sha256 };
  const transferId = new Uint8Array(16).fill(7);
  const room = "chunk-worker-" + mode;
  const hasher = await receiverHasher();
  const sink = await ResumableSink.open(manifest, room, transferId);
  // "plain": as in a browser without synchronous access handles (the page hashes and
  // the sink commits whole segments itself)
  const out = { through: mode === "plain" ? false : await sink.hashesWith(hasher), moved: 0,
                engine: (await hasher.ready).engine };
  for (let i = 0; i < count; i++) {
    const piece = data.slice(i * chunk, Math.min(size, (i + 1) * chunk));
    if (!out.through) await hasher.update(piece);
    await sink.write(piece);
    if (piece.byteLength === 0) out.moved++;
  }
  if (mode === "finish" || mode === "plain") {
    out.digest = await hasher.digestHex();
    out.expected = sha256;
    const { blob } = await sink.finish();
    const got = new Uint8Array(await blob.arrayBuffer());
    out.same = got.length === size && got.every((b, i) => b === data[i]);
    out.segments = sink.segments.map(({ start, end }) => [start, end]);
    return out;
  }
  // a reload once the worker has caught up with what it was given: nothing is closed,
  // flushed or written out of the batch it holds
  while (hasher.pending) await new Promise((r) => setTimeout(r, 10));
  hasher.worker.terminate();
  const dir = await (await navigator.storage.getDirectory())
    .getDirectoryHandle("sgraph-send-r-" + room);
  const second = "seg-" + String(${segment}).padStart(10, "0");
  const sizeOf = async () => (await (await dir.getFileHandle(second)).getFile()).size;
  // the dead worker's lock on its open segment goes with it, not at once
  for (let tries = 0; tries < 100; tries++) {
    try { out.leftBytes = await sizeOf(); break; }
    catch { await new Promise((r) => setTimeout(r, 50)); }
  }
  if (mode === "torn") {
    for (let tries = 0; ; tries++) { // the lock again: reading may be allowed before writing
      try {
        const handle = await dir.getFileHandle(second);
        const w = await handle.createWritable({ keepExistingData: true });
        await w.truncate(out.leftBytes - chunk / 2);
        await w.close();
        break;
      } catch (e) {
        if (tries >= 100) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  const again = await ResumableSink.open(manifest, room, transferId);
  out.held = again.held;
  out.heldSegments = again.segments.map(({ start, end }) => [start, end]);
  // what is held is the file's own bytes
  const files = await Promise.all(again.segments.map(({ handle }) => handle.getFile()));
  const kept = new Uint8Array(await new Blob(files).arrayBuffer());
  out.keptIsPrefix = kept.length === again.heldBytes && kept.every((b, i) => b === data[i]);
  return out;
}""".replace("${segment}", str(SEGMENT_CHUNKS))


def run(new_tab, stack: Stack, mode: str) -> dict:
    tab = new_tab()
    open_send_page(tab, stack.info.web_url)
    result: dict = tab.page.evaluate(WRITE_THROUGH, [mode, CHUNK, RECORD])
    return result


def test_chunks_move_to_the_worker_which_hashes_and_writes_them(new_tab, stack: Stack) -> None:
    got = run(new_tab, stack, "finish")
    assert got["through"] is True  # Chromium has synchronous access handles in workers
    assert got["moved"] == 90  # each chunk moved to the worker, none copied
    assert got["engine"] == "wasm"  # the CSP lets it compile hash-wasm's SHA-256
    assert got["digest"] == got["expected"]
    assert got["same"] is True
    assert got["segments"] == [[0, SEGMENT_CHUNKS], [SEGMENT_CHUNKS, 90]]


def test_without_the_worker_writing_the_sink_commits_whole_segments(new_tab, stack: Stack) -> None:
    got = run(new_tab, stack, "plain")
    assert got["moved"] == 0
    assert got["digest"] == got["expected"]
    assert got["same"] is True
    assert got["segments"] == [[0, SEGMENT_CHUNKS], [SEGMENT_CHUNKS, 90]]


def test_a_reload_mid_segment_keeps_the_whole_chunks_written(new_tab, stack: Stack) -> None:
    got = run(new_tab, stack, "reload")
    # 25 chunks into the second segment: the first 1 MiB batch (17 chunks) was written,
    # the 8 chunks after it were still in the worker
    assert got["leftBytes"] == 17 * CHUNK
    assert got["held"] == SEGMENT_CHUNKS + 17
    assert got["heldSegments"] == [[0, SEGMENT_CHUNKS], [SEGMENT_CHUNKS, SEGMENT_CHUNKS + 17]]
    assert got["keptIsPrefix"] is True


def test_a_segment_cut_inside_a_chunk_is_not_used(new_tab, stack: Stack) -> None:
    got = run(new_tab, stack, "torn")
    assert got["held"] == SEGMENT_CHUNKS
    assert got["heldSegments"] == [[0, SEGMENT_CHUNKS]]
    assert got["keptIsPrefix"] is True


FILL_UP = """async ([chunk, record]) => {
  const { receiverHasher } = await import("./js/hasher.js");
  const { ResumableSink } = await import("./js/resume.js");
  const { Layout } = await import("./js/protocol.js");
  const size = 200 * chunk;
  const manifest = { media_type: "application/octet-stream", layout: new Layout(size, record),
                     size, record_size: record, sha256: "0".repeat(64) };
  const hasher = await receiverHasher();
  const sink = await ResumableSink.open(manifest, "chunk-worker-full", new Uint8Array(16).fill(9));
  await sink.hashesWith(hasher);
  const out = { written: 0 };
  try {
    for (let i = 0; i < 200; i++) {
      await sink.write(new Uint8Array(chunk).fill(i));
      out.written++;
    }
    await sink.flush();
    out.error = null;
  } catch (e) {
    out.error = { kind: e.kind, code: e.code, message: e.message };
  }
  return out;
}"""


def test_a_full_disk_is_the_disk_error(new_tab, stack: Stack) -> None:
    """The origin's quota (set through the DevTools protocol: a full disk cannot be
    made here otherwise) ends the worker's writing: the sink says so as a `disk`
    error, not a stack trace, and no later chunk is taken as written."""
    tab = new_tab()
    open_send_page(tab, stack.info.web_url)
    cdp = tab.page.context.new_cdp_session(tab.page)
    origin = stack.info.web_url.rstrip("/")
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": 2 * 1024 * 1024})
    got = tab.page.evaluate(FILL_UP, [CHUNK, RECORD])
    assert got["error"] is not None, got
    assert got["error"]["kind"] == "disk" and got["error"]["code"] == "write", got
    assert "could not be written to this browser's storage" in got["error"]["message"]
    # the worker runs at most 8 MiB behind (128 chunks): past a 2 MiB quota the
    # failure reaches the writer while it is still writing, not only at the end
    assert got["written"] < 200, got
