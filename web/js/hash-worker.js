// The receiver's whole-file SHA-256, off the page's main thread (hasher.js): the main
// thread verifies, writes and acknowledges records while this worker hashes them.
//
// Messages in: a Uint8Array (the next bytes of the file, in order), or "digest".
// Messages out: { hashed: n } after each chunk, { digest: hex } once.

import { sha256 } from "../vendor/noble-hashes/sha2.js";
import { hex } from "./bytes.js";

const hash = sha256.create();

self.onmessage = ({ data }) => {
  if (data === "digest") {
    self.postMessage({ digest: hex(hash.digest()) });
    return;
  }
  hash.update(data);
  self.postMessage({ hashed: data.byteLength });
};
