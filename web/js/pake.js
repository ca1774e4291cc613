// Spoken codes (docs/protocol.md §11): CPace over ristretto255 with SHA-512
// (draft-irtf-cfrg-cpace), key confirmation, and the link secret both sides derive.
// The group comes from the audited @noble/curves, vendored unmodified but for its
// import paths; transfer_core/protocol/{cpace,handshake,spoken}.py is the same protocol.

import { ristretto255, ristretto255_hasher } from "../vendor/noble-curves/ed25519.js";
import { sha512 } from "../vendor/noble-hashes/sha2.js";
import { b64url, concat, equal, unb64url, utf8 } from "./bytes.js";
import { SALT, SendError, hkdf, hmac } from "./protocol.js";
import { EVEN, ODD } from "./words.js";

const Point = ristretto255.Point;
export const DSI = utf8.encode("CPaceRistretto255");
const S_IN_BYTES = 128;
const ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;
export const WORDS = 3;
export const MAX_NAMEPLATE = 999999;
const VERSION = 1;
const AD = { receiver: utf8.encode("receiver"), sender: utf8.encode("sender") };
const SID = new Uint8Array(0);
export const ABORT = Object.freeze({ v: VERSION, kind: "abort" });

// --- CPace -------------------------------------------------------------------------------

export function prependLen(data) {
  const out = [];
  let n = data.length;
  for (;;) {
    if (n < 128) { out.push(n); break; }
    out.push((n & 0x7f) | 0x80);
    n >>= 7;
  }
  return concat(Uint8Array.from(out), data);
}

export const lvCat = (...parts) => concat(...parts.map(prependLen));

export function generatorString(prs, ci, sid) {
  const zpad = Math.max(0, S_IN_BYTES - 1 - prependLen(prs).length - prependLen(DSI).length);
  return lvCat(DSI, prs, new Uint8Array(zpad), ci, sid);
}

/** g = element_derivation(SHA-512(generator_string)) as an encoded element. */
export function calculateGenerator(prs, ci, sid) {
  return ristretto255_hasher.deriveToCurve(sha512(generatorString(prs, ci, sid))).toBytes();
}

export function sampleScalar(random = (n) => crypto.getRandomValues(new Uint8Array(n))) {
  const raw = Uint8Array.from(random(32));
  raw[31] &= 0x0f;
  return raw;
}

function scalarOf(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n % ORDER;
}

/** scalar * decode(point), encoded; null if `point` does not decode or the result is the identity. */
export function scalarMultVfy(scalar, point) {
  let decoded;
  try {
    decoded = Point.fromBytes(point);
  } catch {
    return null;
  }
  const n = scalarOf(scalar);
  if (n === 0n) return null;
  const product = decoded.multiply(n);
  return product.is0() ? null : product.toBytes();
}

export const transcriptIr = (ya, ada, yb, adb) => concat(lvCat(ya, ada), lvCat(yb, adb));

export function isk(scalar, peerPublic, sid, transcript) {
  const k = scalarMultVfy(scalar, peerPublic);
  if (k === null) throw wrongCode("The other side's PAKE message is not a valid share.");
  return sha512(concat(lvCat(concat(DSI, utf8.encode("_ISK")), sid, k), transcript));
}

// --- spoken codes -------------------------------------------------------------------------

const ODD_INDEX = new Map(ODD.map((w, i) => [w, i]));
const EVEN_INDEX = new Map(EVEN.map((w, i) => [w, i]));
const badCode = (message) => new SendError("bad-link", message, "bad-code");
const wrongCode = (message) => new SendError("verification", message, "wrong-code");

/** A number first, then words. A link's 43-character code may itself begin with a digit
 * and "-" (base64url), so text of that exact form is spoken only if its words are listed. */
export function looksSpoken(text) {
  const t = text.trim();
  if (!/^\d+[\s-]+[A-Za-z]/.test(t)) return false;
  if (/^[A-Za-z0-9_-]{43}$/.test(t)) {
    const words = t.toLowerCase().split(/[\s-]+/).filter(Boolean).slice(1);
    return words.length > 0 && words.every((w) => ODD_INDEX.has(w) || EVEN_INDEX.has(w));
  }
  return true;
}

export function generateCode(nameplate, random = (n) => crypto.getRandomValues(new Uint8Array(n))) {
  const picks = random(WORDS);
  return { nameplate, words: Array.from(picks, (b, i) => (i % 2 === 0 ? ODD : EVEN)[b]) };
}

export const codeText = (code) => [String(code.nameplate), ...code.words].join("-");
const password = (code) => utf8.encode(code.words.join("-"));

export function parseCode(text) {
  const parts = text.trim().toLowerCase().split(/[\s-]+/).filter(Boolean);
  if (!parts.length || !/^\d+$/.test(parts[0])) throw badCode("A spoken code starts with its number, e.g. 7-guitarist-…");
  const nameplate = Number(parts[0]);
  if (!(nameplate >= 1 && nameplate <= MAX_NAMEPLATE)) throw badCode(`The code's number must be 1 to ${MAX_NAMEPLATE}.`);
  const words = parts.slice(1);
  if (words.length !== WORDS) throw badCode(`A spoken code has ${WORDS} words after its number; this one has ${words.length}.`);
  words.forEach((word, i) => {
    const [expected, other] = i % 2 === 0 ? [ODD_INDEX, EVEN_INDEX] : [EVEN_INDEX, ODD_INDEX];
    if (expected.has(word)) return;
    if (other.has(word)) throw badCode(`Word ${i + 1} (${word}) belongs in another position: were two words swapped?`);
    throw badCode(`Word ${i + 1} (${word}) is not in the word list; check it.`);
  });
  return { nameplate, words };
}

// --- the exchange ---------------------------------------------------------------------------

export const channelIdentifier = (nameplate) =>
  lvCat(utf8.encode("sgraph-send/v1/code"), utf8.encode(String(nameplate)));

export async function secretFromIsk(iskBytes) {
  return hkdf(iskBytes, SALT, "sgraph-send/v1/code-secret", 32);
}

async function tag(iskBytes, y, ad) {
  const macKey = sha512(concat(utf8.encode("CPaceMac"), SID, iskBytes));
  return hmac(macKey, lvCat(y, ad));
}

function field(msg, kind, role, name, size) {
  if (!msg || typeof msg !== "object" || msg.v !== VERSION) throw wrongCode("The other side sent something that is not a code exchange.");
  if (msg.kind === "abort") throw wrongCode("The other side says the code is wrong.");
  if (msg.kind !== kind || msg.role !== role || typeof msg[name] !== "string") throw wrongCode("The other side sent an unexpected code-exchange message.");
  let raw;
  try { raw = unb64url(msg[name]); } catch { raw = new Uint8Array(0); }
  if (raw.length !== size) throw wrongCode("The other side sent a malformed code-exchange message.");
  return raw;
}

/** One side of one exchange (docs/protocol.md §11); the steps in order, like handshake.py. */
export class CodeHandshake {
  constructor(role, code, random) {
    this.role = role;
    const g = calculateGenerator(password(code), channelIdentifier(code.nameplate), SID);
    this.scalar = sampleScalar(random);
    this.public = scalarMultVfy(this.scalar, g);
    this.secret = null;
  }

  start() {
    return { v: VERSION, kind: "pake", role: "receiver", y: b64url(this.public) };
  }

  async finish(msg) {
    const yb = field(msg, "pake", "sender", "y", 32);
    const tb = field(msg, "pake", "sender", "confirm", 32);
    const key = isk(this.scalar, yb, SID, transcriptIr(this.public, AD.receiver, yb, AD.sender));
    if (!equal(tb, await tag(key, yb, AD.sender))) throw wrongCode("The code does not match the sender's.");
    this.secret = await secretFromIsk(key);
    return { v: VERSION, kind: "confirm", role: "receiver", confirm: b64url(await tag(key, this.public, AD.receiver)) };
  }

  async answer(msg) {
    const ya = field(msg, "pake", "receiver", "y", 32);
    this.isk = isk(this.scalar, ya, SID, transcriptIr(ya, AD.receiver, this.public, AD.sender));
    this.peerY = ya;
    return { v: VERSION, kind: "pake", role: "sender", y: b64url(this.public), confirm: b64url(await tag(this.isk, this.public, AD.sender)) };
  }

  async verify(msg) {
    const ta = field(msg, "confirm", "receiver", "confirm", 32);
    if (!equal(ta, await tag(this.isk, this.peerY, AD.receiver))) throw wrongCode("The code does not match the receiver's.");
    this.secret = await secretFromIsk(this.isk);
    return this.secret;
  }
}
