// SGraph Send protocol v2 in the browser (docs/protocol.md): link secret, key schedule,
// records, manifest, range encoding, signed signalling envelopes.
// Every keyed primitive is Web Crypto (HKDF-SHA256, HMAC-SHA256, AES-256-GCM). The
// whole-file SHA-256 is incremental (files larger than memory) and Web Crypto has no
// incremental digest, so it uses hash-wasm's WebAssembly SHA-256, or the audited
// @noble/hashes where WebAssembly cannot compile, both vendored unmodified.

import { sha256 as nobleSha256 } from "../vendor/noble-hashes/sha2.js";
import "../vendor/hash-wasm/sha256.umd.min.js"; // defines globalThis.hashwasm
import { concat, equal, hex, unb64url, b64url, unhex, utf8, utf8d } from "./bytes.js";

const subtle = crypto.subtle;

export const SALT = utf8.encode("sgraph-send/v1");
export const LABELS = {
  roomKey: "sgraph-send/v2/room-key",
  file: "sgraph-send/v1/file-key",
  signal: "sgraph-send/v1/signal-key",
  record: "sgraph-send/v1/record-key",
  check: "sgraph-send/v1/key-check",
  envelope: "sgraph-send/v1/signal",
};
export const VERSION = 1; // the record format's version byte (unchanged in protocol v2)
// Offered at connect (docs/signalling.md §1): the protocol version, then the room key.
export const SUBPROTOCOL = "sgraph-send.v2";
export const KEY_SUBPROTOCOL_PREFIX = "sgraph-send.key.";
export const FLAG_LAST = 0x01;
export const FLAG_MANIFEST = 0x02;
export const HEADER_BYTES = 32;
export const TAG_BYTES = 16;
export const OVERHEAD = HEADER_BYTES + TAG_BYTES;
export const KEY_CHECK_BYTES = 16;
export const MIN_RECORD_SIZE = 16 * 1024;
export const MAX_RECORD_SIZE = 256 * 1024;
export const PREFERRED_RECORD_SIZE = 128 * 1024;
export const MAX_MANIFEST_BYTES = 4096;
export const MAX_MANIFEST_RECORDS = 1024; // revision 2.1: a long list spans several records
export const MAX_CHUNKS = 2 ** 32 - 1;
const CODE_LENGTH = 43;

// --- errors a person can act on -------------------------------------------------------

/** One error type; `kind` says what the person can do about it (see app.js ADVICE). */
export class SendError extends Error {
  constructor(kind, message, code = "") {
    super(message);
    this.kind = kind; // bad-link | expired | refused | verification | too-large | disk | network | source-changed | protocol
    this.code = code; // finer detail: malformed, foreign, misplaced, tampered, wrong-key, hash-mismatch, ...
  }
}
const verification = (code, message) => new SendError("verification", message, code);

// --- 1. the link secret ----------------------------------------------------------------

export function newSecret() {
  // a code never begins with "-" (drawn again, 1 in 64): command lines take it for an option
  let secret;
  do secret = crypto.getRandomValues(new Uint8Array(32)); while (secret[0] >> 2 === 62);
  return secret;
}

export function codeOf(secret) {
  return b64url(secret);
}

/** A share link or bare code -> the 32-byte secret, or a `bad-link` SendError. */
export function parseLink(text) {
  // ASCII whitespace only (not String.trim's Unicode set), as every implementation does (§1)
  text = text.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, "");
  let code;
  if (text.includes("#")) code = text.slice(text.indexOf("#") + 1);
  else if (text.includes("://") || text.startsWith("/") || text.startsWith("?")) {
    throw new SendError("bad-link", "The link has no '#…' part: copy the whole link, including what follows '#'.", "missing-fragment");
  } else code = text;
  if (!/^[A-Za-z0-9_-]*$/.test(code)) {
    throw new SendError("bad-link", "The link's code may hold only letters, digits, '-' and '_': check it was copied whole.", "bad-alphabet");
  }
  if (code.length !== CODE_LENGTH) {
    throw new SendError("bad-link", `The link's code is ${CODE_LENGTH} characters long; this one has ${code.length}. Check it was copied whole.`, "wrong-length");
  }
  const secret = unb64url(code);
  if (secret.length !== 32 || codeOf(secret) !== code) {
    throw new SendError("bad-link", "The link's code does not end with a valid character: check it was copied whole.", "bad-alphabet");
  }
  return secret;
}

// --- 2. key schedule --------------------------------------------------------------------

export async function hkdf(ikm, salt, info, length) {
  const key = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt, info: utf8.encode(info) }, key, length * 8);
  return new Uint8Array(bits);
}

async function hmacKey(raw) {
  return subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

export async function hmac(raw, data) {
  return new Uint8Array(await subtle.sign("HMAC", await hmacKey(raw), data));
}

/** Room key (the capability presented at connect), its hash the room id (hex), file key
 * and signalling key from the link secret. */
export async function deriveKeys(secret) {
  const [roomKey, fileKey, signalKey] = await Promise.all([
    hkdf(secret, SALT, LABELS.roomKey, 32),
    hkdf(secret, SALT, LABELS.file, 32),
    hkdf(secret, SALT, LABELS.signal, 32),
  ]);
  const roomHash = new Uint8Array(await subtle.digest("SHA-256", roomKey));
  return { roomId: hex(roomHash.slice(0, 16)), roomKey, fileKey, signalKey };
}

/** The WebSocket subprotocols a client offers: the version, then its room key. */
export function connectSubprotocols(roomKey) {
  return [SUBPROTOCOL, KEY_SUBPROTOCOL_PREFIX + b64url(roomKey)];
}

export async function recordKeyOf(fileKey, transferId) {
  return hkdf(fileKey, transferId, LABELS.record, 32);
}

export async function keyCheckOf(recordKey) {
  return (await hmac(recordKey, utf8.encode(LABELS.check))).slice(0, KEY_CHECK_BYTES);
}

// --- 3. records -------------------------------------------------------------------------

/** Chunk layout: file size and record size and what follows from them. */
export class Layout {
  constructor(size, recordSize) {
    if (!(recordSize >= MIN_RECORD_SIZE && recordSize <= MAX_RECORD_SIZE) || !Number.isInteger(recordSize)) {
      throw new RangeError(`record size must lie in [${MIN_RECORD_SIZE}, ${MAX_RECORD_SIZE}]`);
    }
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError("a file size is a non-negative integer");
    this.size = size;
    this.recordSize = recordSize;
    this.chunkSize = recordSize - OVERHEAD;
    this.count = Math.max(1, Math.ceil(size / this.chunkSize));
    if (this.count > MAX_CHUNKS) throw new RangeError("the file is too large for this record size");
  }
  offset(index) { return index * this.chunkSize; }
  length(index) { return Math.min(this.chunkSize, this.size - this.offset(index)); }
  recordOffset(index) { return index * this.recordSize; }
  recordLength(index) { return this.length(index) + OVERHEAD; }
  get sealedSize() { return this.recordOffset(this.count - 1) + this.recordLength(this.count - 1); }
  /** Plaintext bytes in the first `n` chunks. */
  bytesInPrefix(n) { return n <= 0 ? 0 : Math.min(this.size, n * this.chunkSize); }
}

function header(flags, transferId, index, count, length) {
  const h = new Uint8Array(HEADER_BYTES);
  const v = new DataView(h.buffer);
  h[0] = VERSION;
  h[1] = flags;
  h.set(transferId, 4);
  v.setUint32(20, index);
  v.setUint32(24, count);
  v.setUint32(28, length);
  return h;
}

function nonce(domain, index) {
  const n = new Uint8Array(12);
  const v = new DataView(n.buffer);
  v.setUint32(0, domain);
  v.setUint32(4, Math.floor(index / 2 ** 32));
  v.setUint32(8, index >>> 0);
  return n;
}

function parseHeader(record) {
  if (record.length < OVERHEAD) throw verification("malformed", `A record is at least ${OVERHEAD} bytes; this one has ${record.length}.`);
  const v = new DataView(record.buffer, record.byteOffset, HEADER_BYTES);
  const h = {
    version: record[0], flags: record[1], reserved: v.getUint16(2),
    transferId: record.subarray(4, 20), index: v.getUint32(20), count: v.getUint32(24), length: v.getUint32(28),
  };
  if (h.version !== VERSION) throw verification("malformed", `Record version ${h.version} is not supported.`);
  if (h.reserved || h.flags & ~(FLAG_LAST | FLAG_MANIFEST)) throw verification("malformed", "A record has reserved header bits set.");
  return h;
}

async function aesKey(raw) {
  return subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** Seals and opens the records of one transfer (one transfer id, one record key). */
export class RecordCipher {
  static async create(fileKey, transferId, layout) {
    const c = new RecordCipher();
    c.transferId = transferId;
    c.layout = layout;
    c.recordKey = await recordKeyOf(fileKey, transferId);
    c.keyCheck = await keyCheckOf(c.recordKey);
    c.key = await aesKey(c.recordKey);
    return c;
  }

  async seal(index, plaintext) {
    const { layout } = this;
    if (!(index >= 0 && index < layout.count) || plaintext.length !== layout.length(index)) {
      throw new RangeError(`chunk ${index} must exist and be ${layout.length(index)} bytes`);
    }
    const last = index === layout.count - 1;
    const h = header(last ? FLAG_LAST : 0, this.transferId, index, layout.count, plaintext.length);
    const body = await subtle.encrypt({ name: "AES-GCM", iv: nonce(0, index), additionalData: h }, this.key, plaintext);
    const out = new Uint8Array(HEADER_BYTES + body.byteLength);
    out.set(h);
    out.set(new Uint8Array(body), HEADER_BYTES);
    return out;
  }

  /** Seal the manifest: one record, or (revision 2.1, a long list) records 0 … m-1 of
   *  4096-byte pieces, the last flag on the last, laid end to end. */
  async sealManifest(json) {
    const pieces = [];
    for (let at = 0; at < json.length || !pieces.length; at += MAX_MANIFEST_BYTES) pieces.push(json.subarray(at, at + MAX_MANIFEST_BYTES));
    if (pieces.length > MAX_MANIFEST_RECORDS) throw new RangeError(`a manifest is at most ${MAX_MANIFEST_RECORDS} records`);
    const records = [];
    for (let i = 0; i < pieces.length; i++) {
      const flags = FLAG_MANIFEST | (i === pieces.length - 1 ? FLAG_LAST : 0);
      const aad = concat(header(flags, this.transferId, i, pieces.length, pieces[i].length), this.keyCheck);
      const body = await subtle.encrypt({ name: "AES-GCM", iv: nonce(1, i), additionalData: aad }, this.key, pieces[i]);
      records.push(concat(aad, new Uint8Array(body)));
    }
    return records.length === 1 ? records[0] : concat(...records);
  }

  /** Verify a data record (the checks of protocol.md §3 in order) -> {index, plaintext}. */
  async open(record, expectedIndex = null) {
    const h = parseHeader(record);
    const { layout } = this;
    if (h.flags & FLAG_MANIFEST) throw verification("malformed", "A manifest record stands where a data record belongs.");
    if (!equal(h.transferId, this.transferId)) throw verification("foreign", "A record belongs to another transfer.");
    if (expectedIndex !== null && h.index !== expectedIndex) throw verification("misplaced", `Record ${h.index} was found where record ${expectedIndex} belongs.`);
    const lastIndex = layout.count - 1;
    if (h.count !== layout.count || h.index > lastIndex) throw verification("tampered", "A record's index or count does not fit this transfer.");
    if (Boolean(h.flags & FLAG_LAST) !== (h.index === lastIndex)) throw verification("tampered", "The last-record flag is out of place.");
    if (h.length !== layout.length(h.index)) throw verification("tampered", "A record's payload length does not fit its index.");
    if (record.length !== OVERHEAD + h.length) throw verification("tampered", "A record was cut short or padded.");
    let plain;
    try {
      plain = await subtle.decrypt({ name: "AES-GCM", iv: nonce(0, h.index), additionalData: record.subarray(0, HEADER_BYTES) },
        this.key, record.subarray(HEADER_BYTES));
    } catch {
      throw verification("tampered", `Record ${h.index} failed authentication: it was altered on the way.`);
    }
    return { index: h.index, plaintext: new Uint8Array(plain) };
  }
}

/** Verify a manifest record -> {transferId, json}; wrong link and tampering are told apart. */
export async function openManifestRecord(fileKey, record) {
  const h = parseHeader(record);
  if (!(h.flags & FLAG_MANIFEST)) throw verification("malformed", "The sender did not start with the manifest.");
  if (h.index !== 0 || h.count !== 1 || !(h.flags & FLAG_LAST)) throw verification("tampered", "The manifest header is not well formed.");
  return { transferId: record.slice(4, 20), json: await openManifestPiece(fileKey, h, record) };
}

async function openManifestPiece(fileKey, h, record) {
  const bodyAt = HEADER_BYTES + KEY_CHECK_BYTES;
  if (record.length !== OVERHEAD + KEY_CHECK_BYTES + h.length || h.length > MAX_MANIFEST_BYTES) {
    throw verification("tampered", "The manifest record's length does not match its header.");
  }
  const recordKey = await recordKeyOf(fileKey, h.transferId);
  if (!equal(record.subarray(HEADER_BYTES, bodyAt), await keyCheckOf(recordKey))) {
    throw verification("wrong-key", "This transfer was sealed under another key: the link is wrong or was altered.");
  }
  try {
    return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: nonce(1, h.index), additionalData: record.subarray(0, bodyAt) },
      await aesKey(recordKey), record.subarray(bodyAt)));
  } catch {
    throw verification("tampered", "The manifest failed authentication: it was altered on the way.");
  }
}

/** How many manifest records a transfer has, from its first (authenticated when opened). */
export function manifestRecordCount(record) {
  const h = parseHeader(record);
  if (!(h.flags & FLAG_MANIFEST)) throw verification("malformed", "The sender did not start with the manifest.");
  if (h.count < 1 || h.count > MAX_MANIFEST_RECORDS) throw verification("tampered", "The manifest's record count is out of range.");
  return h.count;
}

/** Manifest records laid end to end -> each record (cut by its header's length). */
export function splitManifestRecords(blob) {
  const out = [];
  for (let at = 0; at < blob.length;) {
    if (blob.length - at < OVERHEAD + KEY_CHECK_BYTES) throw verification("malformed", "The manifest records end in a fragment.");
    const length = new DataView(blob.buffer, blob.byteOffset + at).getUint32(28);
    if (length > MAX_MANIFEST_BYTES || out.length >= MAX_MANIFEST_RECORDS) throw verification("tampered", "The manifest records are malformed.");
    out.push(blob.subarray(at, at + OVERHEAD + KEY_CHECK_BYTES + length));
    at += OVERHEAD + KEY_CHECK_BYTES + length;
  }
  return out;
}

/** Verify a transfer's manifest record(s) -> {transferId, json} (revision 2.1: several). */
export async function openManifestRecords(fileKey, blob) {
  const first = parseHeader(blob);
  if (!(first.flags & FLAG_MANIFEST)) throw verification("malformed", "The sender did not start with the manifest.");
  if (first.count === 1 || first.index !== 0 || first.flags & FLAG_LAST) return openManifestRecord(fileKey, blob);
  if (first.count > MAX_MANIFEST_RECORDS) throw verification("tampered", "The manifest's record count is out of range.");
  const records = splitManifestRecords(blob);
  if (records.length !== first.count) throw verification("tampered", `The manifest has ${first.count} records; ${records.length} arrived.`);
  const pieces = [];
  for (let i = 0; i < records.length; i++) {
    const h = parseHeader(records[i]);
    const last = i === first.count - 1;
    if (!(h.flags & FLAG_MANIFEST) || !equal(h.transferId, first.transferId) || h.index !== i || h.count !== first.count
      || Boolean(h.flags & FLAG_LAST) !== last || (!last && h.length !== MAX_MANIFEST_BYTES)) {
      throw verification("tampered", "The manifest records are out of order or cut short.");
    }
    pieces.push(await openManifestPiece(fileKey, h, records[i]));
  }
  return { transferId: blob.slice(4, 20), json: concat(...pieces) };
}

// --- 4. manifest ------------------------------------------------------------------------

const FIELDS = ["chunk_count", "created", "media_type", "name", "record_size", "sha256", "size", "v"];

export function utcNow() {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/** Canonical manifest JSON (sorted keys, no spaces, UTF-8). */
export function manifestJson(m) {
  const layout = new Layout(m.size, m.record_size);
  const doc = { ...m, v: 1, chunk_count: layout.count };
  return utf8.encode(JSON.stringify(doc, FIELDS));
}

export function parseManifest(bytes) {
  const bad = (msg) => verification("manifest", `The manifest is invalid: ${msg}.`);
  let doc;
  try {
    doc = JSON.parse(utf8d.decode(bytes));
  } catch {
    throw bad("not JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw bad("not an object");
  const keys = Object.keys(doc).sort();
  if (keys.length !== FIELDS.length || keys.some((k, i) => k !== FIELDS[i])) throw bad("unexpected fields");
  if (doc.v !== 1) throw bad(`version ${doc.v}`);
  for (const f of ["name", "media_type", "sha256", "created"]) if (typeof doc[f] !== "string") throw bad(`${f} is not text`);
  for (const f of ["size", "record_size", "chunk_count"]) if (!Number.isSafeInteger(doc[f])) throw bad(`${f} is not an integer`);
  const problem = nameProblem(doc.name);
  if (problem) throw bad(problem);
  if (["media_type", "sha256", "created"].some((f) => LONE_SURROGATE.test(doc[f]))) throw bad("a field is not valid Unicode");
  if (!/^[0-9a-f]{64}$/.test(doc.sha256)) throw bad("sha256 is not 64 hex characters");
  if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/.test(doc.created)) throw bad("the created time is not YYYY-MM-DDThh:mm:ssZ");
  let layout;
  try {
    layout = new Layout(doc.size, doc.record_size);
  } catch (e) {
    throw bad(e.message);
  }
  if (layout.count !== doc.chunk_count) throw bad("the chunk count does not follow from the sizes");
  // only the canonical bytes are read, so no two implementations read one manifest two ways
  if (!equal(manifestJson(doc), bytes)) throw bad("not in canonical form (sorted keys, no spaces)");
  return { ...doc, layout };
}

const LONE_SURROGATE = /\p{Cs}/u;
// eslint-disable-next-line no-control-regex
const NOT_IN_NAME = /[/\\\u0000-\u001f\u007f-\u009f]/;
const MAX_NAME_BYTES = 255;

/** Why a receiver must refuse a manifest's file name (protocol.md §4), or "". */
export function nameProblem(name) {
  if (LONE_SURROGATE.test(name)) return "the file name is not valid Unicode";
  const size = utf8.encode(name).length;
  if (size < 1 || size > MAX_NAME_BYTES) return `the file name is ${size} bytes; it must be 1 to ${MAX_NAME_BYTES}`;
  if (name === "." || name === "..") return "the file name is '.' or '..'";
  if (NOT_IN_NAME.test(name)) return "the file name holds a path separator or a control character";
  return "";
}

/** The sender's side: any local name made one a receiver accepts (Python's `manifest_name`). */
export function manifestName(name) {
  let base = name.replace(/\p{Cs}/gu, "\ufffd").split(/[/\\]/).pop();
  base = base.replace(new RegExp(NOT_IN_NAME.source, "g"), "");
  while (utf8.encode(base).length > MAX_NAME_BYTES) base = base.slice(0, base.length - (/[\ud800-\udbff][\udc00-\udfff]$/.test(base) ? 2 : 1));
  return base === "" || base === "." || base === ".." ? "file" : base;
}

/** The name to save under: the last path component, without invisible characters
 * (Unicode category C, as the CLI's `safe_file_name`: protocol.md §4). */
export function safeName(name) {
  const last = name.split(/[/\\]/).pop().replace(/\p{C}/gu, "").trim();
  return last && last !== "." && last !== ".." ? last : "received-file";
}

// --- 5. range encoding ------------------------------------------------------------------

function putVarint(out, value) {
  for (;;) {
    const byte = value % 128;
    value = Math.floor(value / 128);
    if (value) out.push(byte | 0x80);
    else return out.push(byte);
  }
}

function getVarint(data, pos) {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos >= data.length) throw new SendError("protocol", "A range encoding is truncated.");
    const byte = data[pos++];
    value += (byte & 0x7f) * scale;
    if (!(byte & 0x80)) return [value, pos];
    scale *= 128;
    if (scale > 2 ** 63) throw new SendError("protocol", "A varint is too long.");
  }
}

/** Encode sorted disjoint [start, end) ranges: the shorter of the two forms. */
export function encodeRanges(universe, ranges) {
  const out = [0x01];
  putVarint(out, universe);
  putVarint(out, ranges.length);
  let cursor = 0;
  for (const [start, end] of ranges) {
    putVarint(out, start - cursor);
    putVarint(out, end - start);
    cursor = end;
  }
  const head = [];
  putVarint(head, universe);
  if (out.length <= 1 + head.length + Math.ceil(universe / 8)) return Uint8Array.from(out);
  const bits = new Uint8Array(Math.ceil(universe / 8));
  for (const [start, end] of ranges) for (let i = start; i < end; i++) bits[i >> 3] |= 1 << (i & 7);
  return concat(Uint8Array.from([0x02, ...head]), bits);
}

/** Decode -> {universe, ranges: [[start, end), ...]} (sorted, disjoint). */
export function decodeRanges(data) {
  if (!data.length) throw new SendError("protocol", "An empty range encoding.");
  let [universe, pos] = getVarint(data, 1);
  const ranges = [];
  if (data[0] === 0x01) {
    let n;
    [n, pos] = getVarint(data, pos);
    let cursor = 0;
    for (let k = 0; k < n; k++) {
      let gap, length;
      [gap, pos] = getVarint(data, pos);
      [length, pos] = getVarint(data, pos);
      const start = cursor + gap;
      const end = start + length;
      if (length === 0 || (gap === 0 && cursor > 0) || end > universe) throw new SendError("protocol", "Ranges overlap, touch or leave the universe.");
      ranges.push([start, end]);
      cursor = end;
    }
    if (pos !== data.length) throw new SendError("protocol", "Trailing bytes after the ranges.");
  } else if (data[0] === 0x02) {
    const bits = data.subarray(pos);
    if (bits.length !== Math.ceil(universe / 8)) throw new SendError("protocol", "A bitmap's length does not match its universe.");
    let open = -1;
    for (let i = 0; i <= universe; i++) {
      const set = i < universe && (bits[i >> 3] >> (i & 7)) & 1;
      if (set && open < 0) open = i;
      if (!set && open >= 0) {
        ranges.push([open, i]);
        open = -1;
      }
    }
    for (let i = universe; i < bits.length * 8; i++) if ((bits[i >> 3] >> (i & 7)) & 1) throw new SendError("protocol", "A bitmap sets bits past its universe.");
  } else throw new SendError("protocol", `Unknown range format ${data[0]}.`);
  return { universe, ranges };
}

/** The indices of [0, universe) not in `ranges`, as ranges. */
export function complement(universe, ranges) {
  const out = [];
  let cursor = 0;
  for (const [start, end] of ranges) {
    if (start > cursor) out.push([cursor, start]);
    cursor = end;
  }
  if (cursor < universe) out.push([cursor, universe]);
  return out;
}

export function countIn(ranges) {
  return ranges.reduce((n, [s, e]) => n + e - s, 0);
}

// --- 7. signed signalling envelopes -----------------------------------------------------

export const KINDS = new Set(["ready", "offer", "answer", "candidate", "bye", "receipt"]);

export function newNonce() {
  return hex(crypto.getRandomValues(new Uint8Array(16)));
}

function macInput(fields) {
  const parts = [utf8.encode(LABELS.envelope)];
  for (const f of fields) {
    const data = utf8.encode(f);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, data.length);
    parts.push(len, data);
  }
  return concat(...parts);
}

const envFields = (m) => ["1", m.kind, m.role, m.nonce, m.reply_to, m.data];

/** A signed envelope (the `payload` of the relay's `signal` action). */
export async function signEnvelope(signalKey, { kind, role, nonce, reply_to = "", data = "" }) {
  const m = { v: 1, kind, role, nonce, reply_to, data };
  return { ...m, mac: hex(await hmac(signalKey, macInput(envFields(m)))) };
}

/** Verify a payload said to come from a peer of role `author` (protocol.md §7 checks 1-3). */
export async function openEnvelope(signalKey, payload, author) {
  const refused = (code, msg) => new SendError("refused", msg, code);
  if (typeof payload !== "object" || payload === null || payload.v !== 1) throw refused("malformed", "A signalling message is not an envelope of version 1; the connection was refused.");
  for (const f of ["kind", "role", "nonce", "reply_to", "data", "mac"]) {
    if (typeof payload[f] !== "string") throw refused("malformed", "A signalling envelope field is missing; the connection was refused.");
  }
  let mac;
  try {
    mac = unhex(payload.mac);
  } catch {
    mac = new Uint8Array(0);
  }
  const ok = mac.length === 32 && await subtle.verify("HMAC", await hmacKey(signalKey), mac, macInput(envFields(payload)));
  if (!ok) {
    throw refused("forged", "A signalling message failed authentication: the server or someone on the way altered it (possible interception). The connection was refused; nothing was sent.");
  }
  if (!KINDS.has(payload.kind) || (payload.role !== "sender" && payload.role !== "receiver")) throw refused("malformed", `Unknown signalling kind ${payload.kind}.`);
  if (payload.role !== author) throw refused("replayed", "A signalling message came back from the wrong side (replayed); the connection was refused.");
  return { kind: payload.kind, role: payload.role, nonce: payload.nonce, reply_to: payload.reply_to, data: payload.data };
}

// --- whole-file hash ----------------------------------------------------------------------

/** Incremental SHA-256 (file sizes beyond memory): update(bytes), digestHex(), and which
 *  `engine` it is. hash-wasm's WebAssembly SHA-256 where the page may compile WebAssembly
 *  (4-5 times noble's JavaScript in Chromium on the 2-core test machine: 125-165 against
 *  29-36 MB/s, docs/web-client.md); noble's otherwise, or with `wasm: false`. */
export async function fileHasher({ wasm = true } = {}) {
  if (wasm && globalThis.hashwasm) {
    try {
      const h = await globalThis.hashwasm.createSHA256();
      h.init();
      return { update: (bytes) => void h.update(bytes), digestHex: () => h.digest("hex"), engine: "wasm" };
    } catch {
      // no WebAssembly here: none at all, or a policy without 'wasm-unsafe-eval'
    }
  }
  const h = nobleSha256.create();
  return { update: (bytes) => void h.update(bytes), digestHex: () => hex(h.digest()), engine: "js" };
}

export async function sha256Hex(bytes) {
  return hex(new Uint8Array(await subtle.digest("SHA-256", bytes)));
}
