// The receiving page's chunk worker (hasher.js): the whole-file SHA-256 of the verified
// chunks and, for the resumable OPFS sink (resume.js), their writing into its segment
// files through a synchronous access handle, both off the page's main thread.
//
// Messages in, handled one at a time, in order:
//   { bytes, store }  the next bytes of the file: hashed, and written at the end of the
//                     open segment when `store` (in batches of WRITE_BYTES)
//   { open: handle }  a FileSystemFileHandle: the segment the next stored bytes go to
//                     (emptied first; the one open before is closed)
//   { close: true }   flush and close the open segment, if any; answered { closed: true }
//                     (every message before it is done by then)
//   "digest"          close the open segment, answer { digest: hex }
// Out: { ready: { store, engine } } first (whether this browser has synchronous access
// handles; "wasm" or "js", the SHA-256 in use),
// { hashed: n } after each bytes message, { error: message } once, after which nothing
// more is done.

import { concat } from "./bytes.js";
import { fileHasher } from "./protocol.js";

// stored chunks are written a batch at a time: each write is a call into the browser
// (a round trip to its process where the profile is in memory, as in a private window)
const WRITE_BYTES = 1024 * 1024;

let hash = null; // protocol.js fileHasher(): WebAssembly where it compiles
let segment = null; // { access, at, parts: [Uint8Array], bytes }
let failed = false;
const starting = fileHasher().then((h) => (hash = h));
let queue = starting;

function writeOut() {
  const { access, parts, bytes } = segment;
  if (!bytes) return;
  const batch = parts.length === 1 ? parts[0] : concat(...parts);
  segment.parts = [];
  segment.bytes = 0;
  const written = access.write(batch, { at: segment.at });
  if (written !== bytes) throw new Error(`only ${written} of ${bytes} bytes could be written (is the disk full?)`);
  segment.at += written;
}

function closeSegment() {
  if (!segment) return;
  writeOut();
  const { access } = segment;
  segment = null;
  access.flush();
  access.close();
}

async function handle(data) {
  if (data === "digest") {
    closeSegment();
    self.postMessage({ digest: hash.digestHex() });
  } else if (data.open) {
    closeSegment();
    const access = await data.open.createSyncAccessHandle();
    segment = { access, at: 0, parts: [], bytes: 0 };
    access.truncate(0);
  } else if (data.close) {
    closeSegment();
    self.postMessage({ closed: true });
  } else {
    const { bytes } = data;
    hash.update(bytes);
    if (data.store) {
      if (!segment) throw new Error("no segment is open to write into");
      segment.parts.push(bytes);
      segment.bytes += bytes.byteLength;
      if (segment.bytes >= WRITE_BYTES) writeOut();
    }
    self.postMessage({ hashed: bytes.byteLength });
  }
}

self.onmessage = ({ data }) => {
  queue = queue
    .then(() => (failed ? undefined : handle(data)))
    .catch((e) => {
      failed = true;
      try {
        segment?.access.close();
        segment = null;
      } catch {
        // the handle is gone with the failure
      }
      self.postMessage({ error: String(e?.message || e) });
    });
};

starting.then(() => self.postMessage({ ready: {
  store: typeof FileSystemFileHandle !== "undefined" && "createSyncAccessHandle" in FileSystemFileHandle.prototype,
  engine: hash.engine,
} }));
