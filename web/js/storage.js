// The S3 fallback (protocol.md §10, signalling.md §6).
//
// Storing (sender): the sealed manifest, then records `first … count-1` as one object,
// PUT to URLs the relay presigns: one PUT when it fits one part, else a multipart
// upload cut exactly as transfer_core/storage/layout.py `PartPlan` cuts it, a few parts
// in flight, each part sealed from the File only when its turn comes (memory: about
// CONCURRENCY parts), retried with backoff on 5xx and network errors.
//
// Receiving: the relay answers `download-urls` with presigned GET URLs for the
// manifest object and each complete records object; the page checks each object's
// size, fetches only the records it lacks with ranged GETs (whole records, a few MiB
// per request) and opens every record at its known index.

import { SendError } from "./protocol.js";

const MiB = 1024 * 1024;
export const PART_TARGET_BYTES = 8 * MiB; // transfer_core.storage.layout.PART_TARGET_BYTES
export const MAX_PARTS = 10_000;
const MAX_PART_URLS = 16; // `upload-parts` presigns at most 16 part numbers per request
const CONCURRENCY = 4;
const PUT_TRIES = 5;
const SEAL_BATCH_BYTES = MiB;

/**
 * Records `first … count-1` grouped into whole-record parts: the Python `PartPlan`
 * (a function of the record size, `first` and `count` alone), so the relay, S3's 5 MiB
 * minimum and a resumed upload all see the same parts.
 */
export class PartPlan {
  constructor(layout, first, targetBytes = PART_TARGET_BYTES) {
    if (!(first >= 0 && first < layout.count)) throw new RangeError(`first record ${first} outside 0..${layout.count - 1}`);
    this.layout = layout;
    this.first = first;
    this.records = layout.count - first;
    this.recordsPerPart = Math.max(Math.ceil(targetBytes / layout.recordSize), Math.ceil(this.records / MAX_PARTS));
    this.parts = Math.ceil(this.records / this.recordsPerPart);
  }
  get multipart() { return this.parts > 1; }
  /** Bytes of every part but the last (`partSize` of upload-start). */
  get partBytes() { return this.recordsPerPart * this.layout.recordSize; }
  /** Record indices [start, end) of part `part` (from 1, as S3 numbers them). */
  partRecords(part) {
    if (!(part >= 1 && part <= this.parts)) throw new RangeError(`part ${part} outside 1..${this.parts}`);
    const start = this.first + (part - 1) * this.recordsPerPart;
    return [start, Math.min(start + this.recordsPerPart, this.layout.count)];
  }
  get objectBytes() {
    const { layout } = this;
    return (this.records - 1) * layout.recordSize + layout.recordLength(layout.count - 1);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function storeError(message, code = "") {
  return new SendError("storage", message, code);
}

/** PUT `body` to a presigned URL; `refresh()` gives a fresh URL when this one expired (403). */
async function put(url, body, what, refresh) {
  let refreshed = false;
  for (let attempt = 1; ; attempt++) {
    let problem;
    let status = 0;
    try {
      const response = await fetch(url, {
        method: "PUT", body, headers: { "Content-Type": "application/octet-stream" },
        cache: "no-store", referrerPolicy: "no-referrer", credentials: "omit",
      });
      if (response.ok) return;
      status = response.status;
      problem = `storage answered ${status}`;
    } catch (e) {
      problem = `the upload failed (${e.message})`;
    }
    if (status === 403 && refresh && !refreshed) {
      refreshed = true; // presigned URLs last minutes: a part that waited long asks again
      url = await refresh();
      continue;
    }
    const retry = status === 0 || status >= 500 || status === 408 || status === 429;
    if (!retry || attempt >= PUT_TRIES) {
      throw storeError(`Could not store ${what}: ${problem}${retry ? ` (${attempt} tries)` : ""}.`, status ? `http-${status}` : "network");
    }
    console.info(`storing ${what}: ${problem}; trying again`);
    await sleep(Math.min(8000, 500 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 2));
  }
}

function expand(ranges) {
  const held = new Set();
  for (const [from, to] of ranges || []) for (let p = from; p <= to; p++) held.add(p);
  return held;
}

/**
 * Store the sender's records `first … count-1` (and the manifest before them).
 * `sealRun(start, end)` seals records [start, end) from the file; `progress(n)` gets the
 * plaintext bytes of each part once S3 holds it. Resolves with what was stored.
 */
export async function storeTransfer({ relay, layout, manifestRecord, sealRun, first, progress, announce }) {
  const ask = async (action, fields) => {
    try {
      return await relay.request(action, fields);
    } catch (e) {
      if (e.code === "storage-unavailable" || e.kind === "unsupported") throw storeError("This server has no storage for transfers, so the file can only be sent while both pages are open.", "storage-unavailable");
      if (e instanceof SendError && e.code && e.kind !== "storage") throw storeError(`The server refused to store the file (${action}): ${e.message}`, e.code);
      throw e;
    }
  };
  // every upload-start declares the object's exact bytes: the relay signs each URL for them
  const manifestStart = { object: "manifest", size: manifestRecord.length };
  const manifestUrl = async () => (await ask("upload-start", manifestStart)).url;
  const head = await ask("upload-start", manifestStart);
  await announce?.(); // the relay can store: tell a listening receiver to look there
  await put(head.url, manifestRecord, "the manifest", manifestUrl);

  const plan = new PartPlan(layout, first);
  const plain = ([s, e]) => layout.bytesInPrefix(e) - layout.bytesInPrefix(s);
  /** A part's records, sealed into one body (read and sealed ~1 MiB at a time). */
  const sealPart = async ([start, end]) => {
    const body = new Uint8Array(layout.recordOffset(end - 1 - start) + layout.recordLength(end - 1));
    const per = Math.max(1, Math.floor(SEAL_BATCH_BYTES / layout.recordSize));
    for (let i = start; i < end; i += per) {
      const records = await sealRun(i, Math.min(end, i + per));
      records.forEach((r, k) => body.set(r, layout.recordOffset(i + k - start)));
    }
    return body;
  };

  if (!plan.multipart) {
    const singleStart = { object: "records", first, parts: 0, size: plan.objectBytes };
    const single = async () => (await ask("upload-start", singleStart)).url;
    const start = await ask("upload-start", singleStart);
    const range = plan.partRecords(1);
    await put(start.url, await sealPart(range), "the file", single);
    progress(plain(range));
    return { first, records: plan.records, parts: 1, bytes: plan.objectBytes, storedUntil: start.storedUntil };
  }

  const start = await ask("upload-start", {
    object: "records", first, parts: plan.parts, size: plan.objectBytes, partSize: plan.partBytes,
  });
  const { uploadId } = start;
  const already = expand(start.uploaded);
  const todo = [];
  for (let p = 1; p <= plan.parts; p++) {
    if (already.has(p)) progress(plain(plan.partRecords(p)));
    else todo.push(p);
  }
  if (already.size) console.info(`resuming an upload: ${already.size} of ${plan.parts} parts already stored`);
  // part URLs are asked for lazily, up to 16 at a time, one request at a time
  const urls = new Map();
  let asking = Promise.resolve();
  const urlFor = (part, fresh = false) => {
    const next = asking.then(async () => {
      if (fresh) urls.delete(part);
      if (!urls.has(part)) {
        const batch = [part, ...todo.filter((p) => p > part && !urls.has(p))].slice(0, MAX_PART_URLS);
        const reply = await ask("upload-parts", { first, uploadId, parts: batch });
        for (const { part: p, url } of reply.urls) urls.set(p, url);
      }
      const url = urls.get(part);
      urls.delete(part);
      return url;
    });
    asking = next.catch(() => {});
    return next;
  };
  const queue = todo[Symbol.iterator]();
  let failed = null;
  const worker = async () => {
    for (const part of queue) {
      if (failed) return;
      const range = plan.partRecords(part);
      const url = await urlFor(part);
      await put(url, await sealPart(range), `part ${part} of ${plan.parts}`, () => urlFor(part, true));
      progress(plain(range));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, todo.length) }, () => worker().catch((e) => {
    failed ??= e;
  })));
  if (failed) throw failed;
  const done = await ask("upload-complete", { first, uploadId, parts: plan.parts });
  return { first, records: plan.records, parts: plan.parts, bytes: done.size ?? plan.objectBytes, storedUntil: done.storedUntil ?? start.storedUntil };
}

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
  // poll while records are held, or the sender said it is storing (and while it is here)
  const deadline = performance.now() + (receiver.next || receiver.router?.storing ? POLL_FOR_MS : 0);
  const late = () => performance.now() >= deadline && !(receiver.router?.storing && receiver.senderHere);
  for (;;) {
    let reply = null;
    try {
      reply = await receiver.relay.request("download-urls");
    } catch (e) {
      if (e.kind === "unsupported" || e.code === "storage-unavailable") return null;
      if (e.code !== "expired" || late()) {
        if (e.code === "expired") throw new SendError("expired", "This transfer has expired or does not exist: the sender is not online and nothing is stored for this link. Ask the sender for a new link.");
        throw e;
      }
    }
    if (reply && (reply.records || []).length) return reply;
    if (reply && late()) return reply;
    receiver.report.state("connecting", "The sender is storing the file (it could not connect to you directly); waiting for it…");
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
  // every object is checked before any is read (protocol.md §10)
  for (const { first, size } of objects) {
    if (first >= layout.count) throw new SendError("verification", "A stored records object starts past the end of the file.", "tampered");
    const expected = layout.recordOffset(layout.count - 1 - first) + layout.recordLength(layout.count - 1);
    if (size < expected) throw new SendError("verification", "The stored file is incomplete (a part is missing): it was truncated.", "truncated");
    if (size > expected) throw new SendError("verification", "The stored file is longer than its manifest says: it was altered.", "tampered");
  }
  for (const object of objects) {
    const { first } = object;
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
