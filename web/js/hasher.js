// The receiver's whole-file SHA-256 in a worker (chunk-worker.js), which also writes
// the resumable sink's segments (resume.js).
//
// Hashing in JavaScript (noble-hashes; Web Crypto has no incremental digest) costs
// about 30 ms per MiB on a slow machine: done on the main thread, beside verifying,
// writing and acknowledging every record, it made the receiving page the slow end of
// a page-to-page transfer (#14). In a worker it runs beside that work, on another core
// where there is one. Writing there too (a synchronous access handle, 1 MiB at a time)
// spares the browser process a blob and a swap file per segment, and the main thread a
// copy of each chunk: page to page through TURN, a quarter of the CPU our pages added
// beside Chromium's own (docs/benchmarks.md, #14).
//
// `update` hands the bytes to the worker, moved when the caller gives them up (`give`)
// and copied otherwise, and waits only while more than HASH_AHEAD_BYTES are not yet
// done, so memory stays bounded when bytes come faster than they are hashed (a resumed
// transfer re-reading what it kept).
//
// Without Worker support it is the plain in-page hasher (protocol.js `fileHasher`).

import { SendError, fileHasher } from "./protocol.js";

export const HASH_AHEAD_BYTES = 8 * 1024 * 1024;

class ChunkWorker {
  constructor() {
    this.worker = new Worker(new URL("./chunk-worker.js", import.meta.url), { type: "module" });
    this.pending = 0; // bytes posted and not yet done
    this.error = null;
    this.waiter = null;
    this.digest = null;
    this.finished = false; // the digest is out: every segment is closed, the worker gone
    this.closing = []; // resolvers of closeSegment(), in order
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.worker.onmessage = ({ data }) => {
      if (data.ready) this.markReady(data.ready);
      if (data.hashed !== undefined) this.pending -= data.hashed;
      if (data.closed) this.closing.shift()?.resolve();
      if (data.digest !== undefined) this.digest?.resolve(data.digest);
      if (data.error !== undefined) {
        this.fail(new SendError("disk", `The file could not be written to this browser's storage: ${data.error}.`, "write"));
      }
      this.wake();
    };
    this.worker.onerror = (e) => {
      e.preventDefault?.();
      this.fail(new SendError("verification", `The file's SHA-256 could not be computed: ${e.message || "the hashing worker failed"}.`, "hash-worker"));
    };
  }

  fail(error) {
    this.error ??= error;
    this.markReady({ store: false });
    this.digest?.reject(this.error);
    this.closing.splice(0).forEach(({ reject }) => reject(this.error));
    this.wake();
    this.worker.terminate();
  }

  wake() {
    const w = this.waiter;
    this.waiter = null;
    if (w) w();
  }

  /** Whether the worker can write segment files (synchronous access handles). */
  async canStore() {
    return (await this.ready).store;
  }

  /** Queue the next bytes of the file, written to the open segment too when `store`;
   *  resolves once few enough bytes wait. With `give` the bytes move to the worker (the
   *  caller's view is empty afterwards). */
  async update(bytes, { give = false, store = false } = {}) {
    if (this.error) throw this.error;
    // a view on part of a larger buffer would move or send the whole buffer
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const own = whole ? bytes : bytes.slice();
    this.pending += own.byteLength;
    this.worker.postMessage({ bytes: own, store }, give || !whole ? [own.buffer] : []);
    while (this.pending > HASH_AHEAD_BYTES && !this.error) await new Promise((resolve) => (this.waiter = resolve));
    if (this.error) throw this.error;
  }

  /** Stored bytes go into `fileHandle` (emptied) from now on. */
  openSegment(fileHandle) {
    if (this.error) throw this.error;
    this.worker.postMessage({ open: fileHandle });
  }

  /** Close the open segment; resolves once everything queued before is on disk. */
  closeSegment() {
    if (this.error) return Promise.reject(this.error);
    if (this.finished) return Promise.resolve(); // the digest closed it
    return new Promise((resolve, reject) => {
      this.closing.push({ resolve, reject });
      this.worker.postMessage({ close: true });
    });
  }

  /** The hex digest of every byte given to `update`; the worker closes the open segment
   *  and ends with it. */
  digestHex() {
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.digest = { resolve, reject };
      this.worker.postMessage("digest");
    }).finally(() => {
      this.finished = true;
      this.worker.terminate();
    });
  }
}

/** A whole-file hasher for the receiver: `await update(bytes)`, `await digestHex()`. */
export async function receiverHasher() {
  if (typeof Worker === "undefined") return fileHasher();
  try {
    return new ChunkWorker();
  } catch {
    return fileHasher(); // no module workers here
  }
}
