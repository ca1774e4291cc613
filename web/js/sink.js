// Where a received file goes, verified chunk by verified chunk, in order.
//
//   picker  File System Access API (showSaveFilePicker): straight into the file the
//           person chose; it gets its name only when closed, after the SHA-256 check.
//   opfs    the origin-private file system (disk, any size the quota allows), then a
//           download of that file: memory stays bounded.
//   memory  chunks held in memory, then a download; at most `memoryLimit` bytes.
//
// `save=auto` (the default) uses opfs where the browser has it, else memory.

import { SendError } from "./protocol.js";
import { formatBytes } from "./bytes.js";
import { ResumableSink } from "./resume.js";

export const DEFAULT_MEMORY_LIMIT = 512 * 1024 * 1024;
const FLUSH_BYTES = 4 * 1024 * 1024;
const OPFS_PREFIX = "sgraph-send-";

/** Buffers small writes into large ones (fewer async writes to disk). */
class Batched {
  constructor(writable) {
    this.writable = writable;
    this.parts = [];
    this.bytes = 0;
  }
  async write(bytes) {
    this.parts.push(bytes);
    this.bytes += bytes.length;
    if (this.bytes >= FLUSH_BYTES) await this.flush();
  }
  async flush() {
    if (!this.parts.length) return;
    const blob = new Blob(this.parts);
    this.parts = [];
    this.bytes = 0;
    await this.writable.write(blob);
  }
}

export class MemorySink {
  constructor(manifest) {
    this.kind = "memory";
    this.type = manifest.media_type;
    this.parts = [];
  }
  async write(bytes) {
    this.parts.push(bytes);
  }
  async finish() {
    const blob = new Blob(this.parts, { type: this.type });
    this.parts = [];
    return { blob, saved: false };
  }
  async abort() {
    this.parts = [];
  }
}

export class OpfsSink {
  static available() {
    return Boolean(navigator.storage?.getDirectory) && typeof FileSystemFileHandle !== "undefined"
      && "createWritable" in FileSystemFileHandle.prototype;
  }

  static async create(manifest, tag) {
    const sink = new OpfsSink();
    sink.kind = "opfs";
    sink.dir = await navigator.storage.getDirectory();
    await cleanOpfs(sink.dir);
    sink.name = `${OPFS_PREFIX}${tag}.part`;
    sink.handle = await sink.dir.getFileHandle(sink.name, { create: true });
    sink.writable = await sink.handle.createWritable({ keepExistingData: false });
    sink.out = new Batched(sink.writable);
    sink.type = manifest.media_type;
    return sink;
  }
  write(bytes) {
    return this.out.write(bytes);
  }
  async finish() {
    await this.out.flush();
    await this.writable.close();
    const file = await this.handle.getFile();
    return { blob: file.type ? file : new Blob([file], { type: this.type }), saved: false };
  }
  async abort() {
    try {
      await this.writable.abort();
      await this.dir.removeEntry(this.name);
    } catch {
      // nothing to clean
    }
  }
}

/** Drop staged files left by earlier visits (older than an hour: not a live tab's). */
async function cleanOpfs(dir) {
  const now = Date.now();
  for await (const [name, handle] of dir.entries()) {
    if (!name.startsWith(OPFS_PREFIX) || handle.kind !== "file") continue;
    try {
      if (now - (await handle.getFile()).lastModified > 3_600_000) await dir.removeEntry(name);
    } catch {
      // in use by another tab
    }
  }
}

export class PickerSink {
  static available() {
    return typeof window.showSaveFilePicker === "function";
  }
  /** Must run inside a user gesture (a click). */
  static async create(name) {
    const sink = new PickerSink();
    sink.kind = "picker";
    sink.handle = await window.showSaveFilePicker({ suggestedName: name });
    sink.writable = await sink.handle.createWritable({ keepExistingData: false });
    sink.out = new Batched(sink.writable);
    return sink;
  }
  write(bytes) {
    return this.out.write(bytes);
  }
  async finish() {
    await this.out.flush();
    await this.writable.close();
    return { blob: null, saved: true };
  }
  async abort() {
    try {
      await this.writable.abort();
    } catch {
      // already gone
    }
  }
}

/**
 * Choose a sink for `manifest`. `askPicker(name)` shows a button and resolves, inside
 * the click, with a PickerSink (save=picker only).
 */
export async function chooseSink(manifest, settings, tag, askPicker, transferId) {
  const size = manifest.size;
  let mode = settings.save;
  if (mode === "auto") mode = OpfsSink.available() ? "opfs" : "memory";
  if (mode === "picker" && PickerSink.available()) return askPicker(manifest.safeName);
  if (mode === "opfs" && OpfsSink.available()) {
    const { quota = Infinity, usage = 0 } = (await navigator.storage.estimate?.()) || {};
    // a whole transfer is kept across a reload of the link, and resumed (resume.js); one
    // file of a tree (no transfer id of its own) is staged until its download
    if (quota - usage >= size) return transferId ? ResumableSink.open(manifest, tag, transferId) : OpfsSink.create(manifest, tag);
    if (size > settings.memoryLimit) {
      throw new SendError("too-large", `This file is ${formatBytes(size)}; this browser lets the page store ${formatBytes(quota - usage)} on disk and hold at most ${formatBytes(settings.memoryLimit)} in memory. Free some disk space, or receive it with the sgraph-send command-line tool.`);
    }
  }
  if (size > settings.memoryLimit) {
    throw new SendError("too-large", `This file is ${formatBytes(size)}, and this browser can only receive files up to ${formatBytes(settings.memoryLimit)} (it cannot write to disk as it arrives). Open the link in a recent Chrome, Edge or Firefox, or receive it with the sgraph-send command-line tool.`);
  }
  return new MemorySink(manifest);
}
