// Receiving from the S3 fallback while the sender is offline (protocol.md §10,
// signalling.md §6). The relay answers `download-urls` with presigned GET URLs for the
// manifest object and each complete records object; the page checks each object's
// size, fetches only the records it lacks with ranged GETs (whole records, a few MiB
// per request) and opens every record at its known index.

import { SendError } from "./protocol.js";

const FETCH_BYTES = 4 * 1024 * 1024;

async function get(url, range = null) {
  let response;
  try {
    response = await fetch(url, { headers: range ? { Range: `bytes=${range[0]}-${range[1] - 1}` } : {}, cache: "no-store", referrerPolicy: "no-referrer", credentials: "omit" });
  } catch (e) {
    throw new SendError("network", `Could not download from storage: ${e.message}`);
  }
  if (response.status === 403 || response.status === 404) throw new SendError("expired", "The stored transfer is no longer available (its download link expired or it was removed). Open the link again.");
  if (!response.ok) throw new SendError("network", `Storage answered ${response.status}.`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  // a server that ignores Range answers 200 with the whole object
  return range && response.status === 200 ? bytes.subarray(range[0], range[1]) : bytes;
}

const POLL_MS = 3000;
const POLL_FOR_MS = 120_000;

/** `download-urls`, asked again while the sender is still storing (no records object yet). */
async function downloadUrls(receiver) {
  const deadline = performance.now() + (receiver.next ? POLL_FOR_MS : 0);
  for (;;) {
    let reply = null;
    try {
      reply = await receiver.relay.request("download-urls");
    } catch (e) {
      if (e.kind === "unsupported" || e.code === "storage-unavailable") return null;
      if (e.code !== "expired" || performance.now() >= deadline) {
        if (e.code === "expired") throw new SendError("expired", "This transfer has expired or does not exist: the sender is not online and nothing is stored for this link. Ask the sender for a new link.");
        throw e;
      }
    }
    if (reply && (reply.records || []).length) return reply;
    if (reply && performance.now() >= deadline) return reply;
    receiver.report.state("connecting", "The sender went offline and is storing the rest of the file; waiting for it…");
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Receive from storage (what is still missing), or null when the relay has no storage. */
export async function receiveFromStorage(receiver) {
  const reply = await downloadUrls(receiver);
  if (!reply) return null;
  receiver.mixed = receiver.next > 0;
  receiver.report.path(receiver.mixed ? "mixed" : "storage");
  receiver.report.state("transferring", "The sender is offline: fetching the encrypted file from storage.");
  await receiver.takeManifest(await get(reply.manifest.url));
  const { layout } = receiver.manifest;
  receiver.started ??= performance.now();
  receiver.path = "storage";
  const objects = [...(reply.records || [])].sort((a, b) => a.first - b.first);
  for (const object of objects) {
    const { first } = object;
    if (first >= layout.count) throw new SendError("verification", "A stored records object starts past the end of the file.", "tampered");
    const expected = layout.recordOffset(layout.count - 1 - first) + layout.recordLength(layout.count - 1);
    if (object.size < expected) throw new SendError("verification", "The stored file is incomplete (a part is missing): it was truncated.", "truncated");
    if (object.size > expected) throw new SendError("verification", "The stored file is longer than its manifest says: it was altered.", "tampered");
    const per = Math.max(1, Math.floor(FETCH_BYTES / layout.recordSize));
    for (let i = Math.max(first, receiver.next); i < layout.count; i += per) {
      const end = Math.min(layout.count, i + per);
      const at = layout.recordOffset(i - first);
      const bytes = await get(object.url, [at, layout.recordOffset(end - 1 - first) + layout.recordLength(end - 1)]);
      for (let k = i; k < end; k++) {
        const from = layout.recordOffset(k - first) - at;
        await receiver.accept(bytes.subarray(from, from + layout.recordLength(k)), k);
      }
      receiver.report.progress(layout.bytesInPrefix(receiver.next), layout.size);
    }
  }
  if (receiver.next < layout.count) {
    throw new SendError("expired", objects.length
      ? "Only part of the file is stored so far and the sender is offline: try again later."
      : "The sender is offline and is still storing the file: try again in a little while.", "incomplete");
  }
  return receiver.finish("s3");
}
