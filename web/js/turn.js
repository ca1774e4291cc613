// TURN credentials renewed for a new connection attempt, as the CLI does
// (transfer_core/session/base.py `_ice_for_attempt`; docs/networking.md §7).
//
// coturn checks a TURN REST credential's expiry only when an allocation is made: a
// running allocation outlives it, but a reconnect long after the welcome would offer a
// stale credential and be refused (401), so the page could no longer relay. Before each
// attempt the page therefore asks the relay for fresh `ice-servers` when the ones it
// holds expire within RENEW_MARGIN_MS.

import { rtcConfig } from "./peer.js";

/** Renew credentials that expire within this margin (the CLI's TURN_EXPIRY_MARGIN_SECONDS). */
export const RENEW_MARGIN_MS = 30_000;
// the TURN REST username is `<expiry unix seconds>:<id>`
const REST_USERNAME = /^(\d+):/;

/** When the TURN credentials among `iceServers` expire (ms since the epoch); null without TURN REST credentials. */
export function turnExpiresAt(iceServers) {
  const expiries = (iceServers || [])
    .map((s) => REST_USERNAME.exec(String(s.username ?? "")))
    .filter(Boolean)
    .map((m) => Number(m[1]) * 1000);
  return expiries.length ? Math.min(...expiries) : null;
}

/**
 * `config`, or a configuration built (as the welcome's was) from fresh `ice-servers` when
 * the TURN credentials in `config` expire before `now + RENEW_MARGIN_MS`. A relay that
 * cannot answer leaves `config` as it was: the attempt may still pair without TURN.
 */
export async function iceForAttempt(relay, config, settings, now = Date.now()) {
  const expires = turnExpiresAt(config.iceServers);
  if (expires === null || expires >= now + RENEW_MARGIN_MS) return config;
  try {
    const reply = await relay.request("ice-servers");
    const renewed = rtcConfig(reply.iceServers || [], settings);
    console.info("renewed the TURN credentials for a new connection");
    return renewed;
  } catch (e) {
    console.info("could not renew the TURN credentials:", e.message);
    return config;
  }
}
