// Receipts (protocol.md "Revision 2.1 (#15)"): a receiver's signed word that it holds the
// whole file, verified. Sent through the relay, whichever path carried the records.

import * as P from "./protocol.js";

const enc = new TextEncoder();
const PATHS = new Set(["p2p", "s3", "p2p+s3"]);
export const RECEIPT_WAIT_MS = 5000;

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const sha256Hex = async (bytes) => hex(await crypto.subtle.digest("SHA-256", bytes));

/** The receiver's name on receipts and `ready`s: stable across its reconnects, not its token. */
export async function receiverId(token) {
  return (await sha256Hex(enc.encode("sgraph-send/receiver-id/" + token))).slice(0, 16);
}

/** The receipt's canonical JSON: keys sorted, no spaces (the order below is sorted). */
export async function receiptData({ receiver, manifestRecord, records, size, path, at }) {
  const manifest = await sha256Hex(manifestRecord);
  return JSON.stringify({ at, manifest, path, receiver, records, size, v: 1 });
}

/** The signed envelope a receiver sends once the file is verified and saved. */
export async function signReceipt(signalKey, fields, nonce = P.newNonce()) {
  return P.signEnvelope(signalKey, { kind: "receipt", role: "receiver", nonce, reply_to: "", data: await receiptData(fields) });
}

/** The receipt in `payload` if it is signed by a receiver of this link for this transfer; else throws. */
export async function verifyReceipt(signalKey, payload, manifestRecord) {
  const refused = (msg) => new P.SendError("refused", msg, "receipt");
  if (!payload || typeof payload.mac !== "string") throw refused("An unsigned receipt was refused.");
  const m = await P.openEnvelope(signalKey, payload, "receiver");
  if (m.kind !== "receipt") throw refused(`Expected a receipt, got a ${m.kind}.`);
  let doc;
  try {
    doc = JSON.parse(m.data);
  } catch {
    throw refused("A malformed receipt was refused.");
  }
  const whole = (n) => Number.isSafeInteger(n) && n >= 0;
  if (doc?.v !== 1 || typeof doc.receiver !== "string" || !whole(doc.records) || !whole(doc.size) || !whole(doc.at) || !PATHS.has(doc.path)) {
    throw refused("A malformed receipt was refused.");
  }
  if (doc.manifest !== await sha256Hex(manifestRecord)) throw refused("A receipt for another transfer was refused.");
  const { v, ...receipt } = doc;
  return receipt;
}
