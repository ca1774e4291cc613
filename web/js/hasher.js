// The receiver's whole-file SHA-256 in a worker (hash-worker.js).
//
// Hashing in JavaScript (noble-hashes; Web Crypto has no incremental digest) costs
// about 30 ms per MiB on a slow machine: done on the main thread, beside verifying,
// writing and acknowledging every record, it made the receiving page the slow end of
// a page-to-page transfer (#14). In a worker it runs beside that work, on another core
// where there is one. `update` copies the bytes to the worker (the caller keeps its
// own for the sink) and waits only while more than HASH_AHEAD_BYTES are not yet
// hashed, so memory stays bounded when bytes come faster than they are hashed (a
// resumed transfer re-reading what it kept).
//
// Without Worker support it is the plain in-page hasher (protocol.js `fileHasher`).

import { SendError, fileHasher } from "./protocol.js";

export const HASH_AHEAD_BYTES = 8 * 1024 * 1024;

class WorkerHasher {
  constructor() {
    this.worker = new Worker(new URL("./hash-worker.js", import.meta.url), { type: "module" });
    this.pending = 0; // bytes posted and not yet hashed
    this.error = null;
    this.waiter = null;
    this.digest = null;
    this.worker.onmessage = ({ data }) => {
      if (data.hashed !== undefined) this.pending -= data.hashed;
      if (data.digest !== undefined) this.digest?.resolve(data.digest);
      this.wake();
    };
    this.worker.onerror = (e) => {
      e.preventDefault?.();
      this.fail(new SendError("verification", `The file's SHA-256 could not be computed: ${e.message || "the hashing worker failed"}.`, "hash-worker"));
    };
  }

  fail(error) {
    this.error ??= error;
    this.digest?.reject(this.error);
    this.wake();
    this.worker.terminate();
  }

  wake() {
    const w = this.waiter;
    this.waiter = null;
    if (w) w();
  }

  /** Queue the next bytes of the file; resolves once few enough bytes wait to be hashed. */
  async update(bytes) {
    if (this.error) throw this.error;
    // a view on part of a larger buffer would send the whole buffer
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    this.pending += own.byteLength;
    this.worker.postMessage(own);
    while (this.pending > HASH_AHEAD_BYTES && !this.error) await new Promise((resolve) => (this.waiter = resolve));
    if (this.error) throw this.error;
  }

  /** The hex digest of every byte given to `update`; the worker ends with it. */
  digestHex() {
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.digest = { resolve, reject };
      this.worker.postMessage("digest");
    }).finally(() => this.worker.terminate());
  }
}

/** A whole-file hasher for the receiver: `await update(bytes)`, `await digestHex()`. */
export function receiverHasher() {
  if (typeof Worker === "undefined") return fileHasher();
  try {
    return new WorkerHasher();
  } catch {
    return fileHasher(); // no module workers here
  }
}
