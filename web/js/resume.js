// A receiving page that keeps what it verified across a reload, and goes on from there.
//
// The verified chunks go to the origin-private file system (OPFS) in segments of about
// 4 MiB, one file each, in a folder per room (`sgraph-send-r-<room id>/`), beside a
// progress record (`progress.json`: the transfer id, the manifest's size, record size
// and SHA-256, whether it is done, and when it was opened). Where the page has
// synchronous access handles (Chromium, Firefox, Safari 17), the chunk worker
// (hasher.js) writes each verified chunk at the end of the open segment as it hashes
// it: a segment cut short by a reload holds whole verified chunks, and one cut inside a
// chunk is discarded. Elsewhere an OPFS writable commits only on close() (until then it
// writes to a swap file), so each segment is written and closed whole. Either way the
// folder holds verified chunks only. Reopening the same link finds the record; if
// it names the same transfer, the page re-reads the contiguous segments from chunk 0
// (re-hashing them for the whole-file SHA-256), and its first `have` says what it
// holds, so the sender sends only the rest. A different transfer (the sender started
// again) or an unreadable folder starts from nothing.
//
// The file offered at the end is a Blob made of the segment files (disk-backed, never
// copied into memory). The folder is removed on the page's next visit (any mode) once
// its transfer is done, or when it is left unfinished for longer than a stored
// transfer lives (8 days); a failed verification removes it at once.

import { hex } from "./bytes.js";

const PREFIX = "sgraph-send-r-";
const SEGMENT_BYTES = 4 * 1024 * 1024;
const PROGRESS = "progress.json";
const SEGMENT = /^seg-(\d{10})$/;
const KEEP_UNFINISHED_MS = 8 * 24 * 3600 * 1000; // a stored transfer lives 7 days
const READ_SLICE = 8 * 1024 * 1024;

async function readJson(dir, name) {
  try {
    return JSON.parse(await (await (await dir.getFileHandle(name)).getFile()).text());
  } catch {
    return null;
  }
}

const segmentName = (start) => `seg-${String(start).padStart(10, "0")}`;

/** Write a whole file and commit it (close() is the commit). */
async function writeWhole(dir, name, data) {
  const handle = await dir.getFileHandle(name, { create: true });
  const writable = await handle.createWritable({ keepExistingData: false });
  await writable.write(data);
  await writable.close();
  return handle;
}

async function clearFolder(dir) {
  const names = [];
  for await (const name of dir.keys()) names.push(name);
  for (const name of names) await dir.removeEntry(name, { recursive: true }).catch(() => {});
}

/** Whole segments from chunk 0 on, contiguous: [{ start, end, handle }] (the rest removed). */
async function contiguousSegments(dir, layout) {
  const found = [];
  for await (const [name, handle] of dir.entries()) {
    const m = SEGMENT.exec(name);
    if (m && handle.kind === "file") found.push({ start: Number(m[1]), handle, name });
  }
  found.sort((a, b) => a.start - b.start);
  const kept = [];
  let next = 0;
  for (const seg of found) {
    const size = (await seg.handle.getFile()).size;
    let end = -1;
    if (seg.start === next && next < layout.count) {
      if (layout.bytesInPrefix(layout.count) - layout.bytesInPrefix(next) === size) end = layout.count;
      else if (size > 0 && size % layout.chunkSize === 0 && next + size / layout.chunkSize < layout.count) end = next + size / layout.chunkSize;
    }
    if (end < 0) {
      await dir.removeEntry(seg.name).catch(() => {}); // a gap or a foreign size: not ours to use
      continue;
    }
    kept.push({ start: seg.start, end, handle: seg.handle });
    next = end;
  }
  return kept;
}

export class ResumableSink {
  /** The folder for this room, resumed when its record names this very transfer. */
  static async open(manifest, roomId, transferId) {
    const root = await navigator.storage.getDirectory();
    const sink = new ResumableSink();
    sink.kind = "opfs";
    sink.type = manifest.media_type;
    sink.layout = manifest.layout;
    sink.dir = await root.getDirectoryHandle(`${PREFIX}${roomId}`, { create: true });
    sink.progress = { transfer: hex(transferId), size: manifest.size, recordSize: manifest.record_size, sha256: manifest.sha256, done: false };
    const saved = await readJson(sink.dir, PROGRESS);
    const same = saved && ["transfer", "size", "recordSize", "sha256"].every((k) => saved[k] === sink.progress[k]) && !saved.done;
    if (!same) await clearFolder(sink.dir);
    sink.segments = same ? await contiguousSegments(sink.dir, sink.layout) : [];
    /** Chunks [0, held) already on disk, verified by an earlier visit. */
    sink.held = sink.segments.length ? sink.segments[sink.segments.length - 1].end : 0;
    sink.next = sink.held;
    sink.committing = Promise.resolve(); // the segment being committed, if any
    sink.parts = [];
    sink.bytes = 0;
    await sink.saveProgress();
    return sink;
  }

  /** Bytes held from an earlier visit. */
  get heldBytes() {
    return this.layout.bytesInPrefix(this.held);
  }

  /** Feed the held chunks to the whole-file hasher, in order (they were verified once). */
  async replay(hasher) {
    for (const { handle } of this.segments) {
      const file = await handle.getFile();
      for (let at = 0; at < file.size; at += READ_SLICE) {
        await hasher.update(new Uint8Array(await file.slice(at, at + READ_SLICE).arrayBuffer()));
      }
      if (file.size === 0) await hasher.update(new Uint8Array(0));
    }
  }

  /** The record is written when the folder is opened and when the file is complete; in
   *  between, the committed segments themselves say how far it got (one more file commit
   *  per segment halved the sink's speed). */
  saveProgress() {
    return writeWhole(this.dir, PROGRESS, JSON.stringify({ ...this.progress, held: this.held, updated: Date.now() }));
  }

  /** Write through the chunk worker (hasher.js) that hashes the file, where it can: each
   *  chunk then crosses to it once, moved, and is hashed and written there. False if it
   *  cannot (the caller hashes and writes as before). */
  async hashesWith(worker) {
    if (!worker?.canStore || !(await worker.canStore())) return false;
    this.worker = worker;
    return true;
  }

  /** One verified chunk, the next in order (moved to the worker when writing through it). */
  async write(bytes) {
    if (this.worker) return this.writeThrough(bytes);
    this.parts.push(bytes);
    this.bytes += bytes.length;
    this.next++;
    if (this.bytes >= SEGMENT_BYTES) await this.flush({ wait: false });
  }

  /**
   * Commit the chunks written since the last segment as a segment of their own. Segments
   * are committed one at a time, in order; with `wait: false` this one commits while the
   * next chunks arrive (a commit took 0.1–0.4 s on a loaded machine, and holding up the
   * receive loop that long stalled a page-to-page transfer each 4 MiB, #14), so at most
   * two segments are in memory. A failed commit is thrown by the next flush or `finish`.
   */
  async flush({ wait = true } = {}) {
    if (this.worker) {
      this.open = null;
      const closed = this.worker.closeSegment();
      if (wait) await closed;
      else closed.catch(() => {}); // a failure is thrown by the worker's next update
      return;
    }
    await this.committing;
    if (this.parts.length) {
      const start = this.segments.length ? this.segments[this.segments.length - 1].end : 0;
      const end = this.next;
      const data = new Blob(this.parts);
      this.parts = [];
      this.bytes = 0;
      this.committing = writeWhole(this.dir, segmentName(start), data)
        .then((handle) => void this.segments.push({ start, end, handle }));
      this.committing.catch(() => {}); // thrown where it is awaited, never unhandled
    }
    if (wait) await this.committing;
  }

  /** The chunk worker hashes and writes `bytes` at the end of the open segment (a new one
   *  at 4 MiB); the segment closes while the next chunks arrive. */
  async writeThrough(bytes) {
    if (!this.open) {
      const handle = await this.dir.getFileHandle(segmentName(this.next), { create: true });
      this.worker.openSegment(handle);
      this.open = { start: this.next, end: this.next, handle, bytes: 0 };
      this.segments.push(this.open);
    }
    const size = bytes.length;
    await this.worker.update(bytes, { give: true, store: true });
    this.next++;
    this.open.end = this.next;
    this.open.bytes += size;
    if (this.open.bytes >= SEGMENT_BYTES) await this.flush({ wait: false });
  }

  async finish() {
    await this.flush();
    const files = await Promise.all(this.segments.map(({ handle }) => handle.getFile()));
    this.progress.done = true;
    await this.saveProgress();
    return { blob: new Blob(files, { type: this.type }), saved: false };
  }

  /** Keep what is verified for the next visit, unless the transfer itself is bad. */
  async abort(error = null) {
    const bad = error?.kind === "verification" || error?.code === "restarted";
    try {
      // the worker's open segment is locked until closed, even for clearing
      if (this.worker || !bad) await this.flush();
      if (bad) await clearFolder(this.dir);
    } catch {
      // nothing more to keep
    }
  }
}

/** Remove the folders of finished transfers, and of unfinished ones past their life. */
export async function cleanResumable() {
  if (!navigator.storage?.getDirectory) return 0;
  const root = await navigator.storage.getDirectory();
  const stale = [];
  for await (const [name, handle] of root.entries()) {
    if (!name.startsWith(PREFIX) || handle.kind !== "directory") continue;
    const progress = await readJson(handle, PROGRESS);
    if (!progress || progress.done || !(Date.now() - progress.updated < KEEP_UNFINISHED_MS)) stale.push(name);
  }
  for (const name of stale) await root.removeEntry(name, { recursive: true }).catch(() => {});
  return stale.length;
}

/** A tree's progress across a reload (#15): how many entries, in list order, were
 *  verified and saved (into the picked folder or as downloads). The files themselves are
 *  already where the person keeps them, so the record is all that is kept here: a reload
 *  starts the stream at the chunk holding the first byte of the first entry not saved,
 *  and its first `have` names every chunk before that one. Written after each saved file
 *  of 1 MiB or more and at most every `TREE_NOTE_MS` otherwise (a file saved in the last
 *  moments before a reload may then be fetched and saved once more, never lost). */
const TREE_NOTE_MS = 250;
const TREE_NOTE_BYTES = 1024 * 1024;

export class TreeProgress {
  /** The record of this room's tree, null where the page has no OPFS. */
  static async open(manifest, roomId, transferId) {
    if (!navigator.storage?.getDirectory) return null;
    const root = await navigator.storage.getDirectory();
    const record = new TreeProgress();
    record.dir = await root.getDirectoryHandle(`${PREFIX}${roomId}`, { create: true });
    record.progress = { transfer: hex(transferId), size: manifest.size, recordSize: manifest.record_size, entries: manifest.entries.length, done: false };
    const saved = await readJson(record.dir, PROGRESS);
    const same = saved && ["transfer", "size", "recordSize", "entries"].every((k) => saved[k] === record.progress[k]) && !saved.done;
    if (!same) await clearFolder(record.dir);
    /** Entries [0, saved) verified and saved by an earlier visit. */
    record.saved = same && Number.isInteger(saved.saved) ? Math.min(saved.saved, manifest.entries.length) : 0;
    record.writtenAt = 0;
    await record.write();
    return record;
  }

  write() {
    this.writtenAt = performance.now();
    return writeWhole(this.dir, PROGRESS, JSON.stringify({ ...this.progress, saved: this.saved, updated: Date.now() }));
  }

  /** Entries [0, count) are saved; the last one had `size` bytes. */
  async note(count, size) {
    this.saved = count;
    if (size >= TREE_NOTE_BYTES || performance.now() - this.writtenAt >= TREE_NOTE_MS) await this.write();
  }

  async finish() {
    this.progress.done = true; // the folder goes at the next visit (cleanResumable)
    await this.write();
  }

  async abort(error = null) {
    try {
      if (error?.kind === "verification" || error?.code === "restarted") await clearFolder(this.dir);
      else await this.write();
    } catch {
      // nothing more to keep
    }
  }
}
