// A transfer the sender controls (docs/signalling.md §8): download limits and expiry, the
// receiver's `download-done`, `revoke`, and the errors of a closed link. As
// transfer_core/signalling/control.py.

import * as P from "./protocol.js";
import { Relay, newToken } from "./signalling.js";

/** The relay's codes for a closed link, and the reason each names. */
export const CLOSED = { "link-expired": "expired", "link-used-up": "used-up", "link-revoked": "revoked" };
const UNITS = { s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds of a duration such as `30m`, `2h`, `7d` (as the CLI's --expires). */
export function parseDuration(text) {
  const m = /^([0-9]{1,7})([smhd])$/.exec(String(text).trim().toLowerCase());
  if (!m || Number(m[1]) === 0) throw new P.SendError("limits", `"${text}" is not a duration: write a number and a unit, e.g. 30m, 2h or 7d.`);
  return Number(m[1]) * UNITS[m[2]];
}

/** The page's two controls as limits, or null when neither is set. */
export function limitsFrom(downloads, expires) {
  const limits = {};
  if (downloads !== "" && downloads != null) {
    const n = Number(downloads);
    if (!Number.isInteger(n) || n < 1) throw new P.SendError("limits", "The number of downloads must be a whole number, 1 or more.");
    limits.downloads = n;
  }
  if (expires) limits.expiresIn = parseDuration(expires);
  return Object.keys(limits).length ? limits : null;
}

/** Tell the relay the sender's limits, right after `hello` (a refused limit fails at once). */
export async function applyLimits(relay, limits) {
  if (!limits) return null;
  try {
    return await relay.request("transfer-limits", limits);
  } catch (e) {
    if (CLOSED[e.code]) throw e;
    throw new P.SendError("limits", `The server refused the limits: ${e.message}`, e.code);
  }
}

/** A whole transfer arrived verified: one completed download (best effort; the file is here). */
export async function reportDownload(relay) {
  try {
    return await relay.request("download-done", {}, 5000);
  } catch {
    return null;
  }
}

/** Delete the stored transfer of `secret` now, on a connection of its own (the sending one
 *  has closed). Joins as the sender, or as a receiver when a sender is connected. */
export async function revoke(settings, secret) {
  const keys = await P.deriveKeys(secret);
  let relay;
  try {
    relay = await Relay.connect(settings.server, keys.roomKey, "sender", newToken());
  } catch {
    relay = await Relay.connect(settings.server, keys.roomKey, "receiver", newToken());
  }
  try {
    await relay.request("hello");
    return (await relay.request("revoke")).closed;
  } finally {
    relay.close();
  }
}
