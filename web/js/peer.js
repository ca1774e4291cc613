// One reliable, ordered data channel (protocol.md §8) over RTCPeerConnection, set up
// through the signed-signal router; bounded sender memory with bufferedAmountLowThreshold.
//
// Local-only mode (the local stack, tests): every packet stays on 127.0.0.1. The page
// signals no candidate whose address is not 127.0.0.1, drops such candidates from the
// peer, and uses only ICE servers on 127.0.0.1. Chromium gathers a 127.0.0.1 host
// candidate only where it may use `lo` (the tests run it in a namespace holding only
// `lo`, with --allow-loopback-in-peer-connection: tests/browser/netns.py); elsewhere
// only TURN relay candidates on a loopback coturn pass.

import { SendError, MIN_RECORD_SIZE, MAX_RECORD_SIZE, PREFERRED_RECORD_SIZE } from "./protocol.js";
import { AsyncQueue, after, receiveKind } from "./signalling.js";

export const LABEL = "sgraph-send";
// A shallow send queue, topped up a record at a time as it drains. Chromium discards
// packets its sending renderer cannot hand on to the network service fast enough
// (getStats: packetsDiscardedOnSend); with 1 MiB queued, its SCTP sent whole windows at
// once into that path, lost a flight of 180-380 packets and recovered by 400 ms
// timeouts, a few packets each, for seconds. With 256 KiB page to page still lost
// 200-6,000 packets per 16 MiB and stalled so in about a third of the rounds; with
// 64 KiB (one record, topped up below 32 KiB) it lost none in 40 of 43 transfers (151-222
// in the others), page to page ran about 20 % faster, and Chromium's own in-page
// loopback 40 % faster with the same queue (docs/benchmarks.md, #14).
export const HIGH_WATER = 64 * 1024;
export const LOW_WATER = 32 * 1024;
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost"]);

function selectedPair(stats) {
  let pairId = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  if (!pairId) stats.forEach((s) => { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pairId = s.id; });
  return (pairId && stats.get(pairId)) || null;
}

export class ChannelClosed extends Error {}

// --- ICE settings ---------------------------------------------------------------------

function urlHost(url) {
  // stun:host:port, turn:host:port?transport=udp, turns:...
  const rest = url.replace(/^[a-z]+:/i, "").split("?")[0];
  return rest.startsWith("[") ? rest.slice(1, rest.indexOf("]")) : rest.split(":")[0];
}

/** RTCConfiguration from the relay's `ice-servers` list and the page's settings. */
export function rtcConfig(servers, { localOnly, relayOnly }) {
  let iceServers = servers.map((s) => ({ ...s, urls: [].concat(s.urls) }));
  if (localOnly) {
    iceServers = iceServers
      .map((s) => ({ ...s, urls: s.urls.filter((u) => LOOPBACK_HOSTS.has(urlHost(u))) }))
      .filter((s) => s.urls.length);
  }
  const hasTurn = iceServers.some((s) => s.urls.some((u) => /^turns?:/.test(u)));
  if (relayOnly && !hasTurn) {
    throw new SendError("network", "Relay-only mode needs a TURN server, and the signalling server offered none.");
  }
  return { iceServers, iceTransportPolicy: relayOnly ? "relay" : "all" };
}

/** The address field of a `candidate:` line (or `a=candidate:` SDP line). */
export function candidateAddress(line) {
  const parts = line.replace(/^a=/, "").split(/\s+/);
  return parts.length >= 8 ? parts[4] : null;
}

export function acceptsCandidate(line, localOnly) {
  return !localOnly || candidateAddress(line) === "127.0.0.1";
}

export function filterSdp(sdp, localOnly) {
  if (!localOnly) return sdp;
  return sdp.split("\r\n").filter((l) => !l.startsWith("a=candidate:") || acceptsCandidate(l, true)).join("\r\n");
}

// The largest SCTP packet this page's WebRTC reads whole, said in every SDP it sends
// (`a=sgraph-max-packet`, protocol Revision 2.5): libwebrtc (Chromium, Safari) reads
// each DTLS record into a 2,048-byte buffer (dtls_transport.cc, kMaxDtlsPacketLen). A
// CLI then probes that size too and, where the path carries it, sends the page 2,048-byte
// packets instead of 1,400: a third fewer for both to handle. Chromium ignores the line.
export const READS_WHOLE = 2048;
export const MAX_PACKET_ATTRIBUTE = "sgraph-max-packet";

/** `sdp` saying `a=sgraph-max-packet:size` in its data channel's section (after
 * `a=max-message-size`, or after `m=application`); unchanged if said already or if it
 * has neither line. transfer_core/webrtc/sdp.py `with_max_packet` is the same rule. */
export function withMaxPacket(sdp, size = READS_WHOLE) {
  const newline = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = sdp.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  if (lines.some((l) => l.startsWith(`a=${MAX_PACKET_ATTRIBUTE}:`))) return sdp;
  let anchor = lines.findIndex((l) => l.startsWith("a=max-message-size:"));
  if (anchor < 0) anchor = lines.findIndex((l) => l.startsWith("m=application"));
  if (anchor < 0) return sdp;
  lines.splice(anchor + 1, 0, `a=${MAX_PACKET_ATTRIBUTE}:${size}`);
  return lines.join(newline) + newline;
}

/** The SDP this page sends: local-only filtering, and what it reads whole. */
function described(pc, localOnly) {
  return withMaxPacket(filterSdp(pc.localDescription.sdp, localOnly));
}

/** The remote side's `a=max-message-size` (65536 if absent, 0 = any), within [16, 256] KiB. */
export function maxMessageSize(sdp) {
  const m = /^a=max-message-size:(\d+)/m.exec(sdp);
  let size = m ? Number(m[1]) : 65536;
  if (size === 0) size = MAX_RECORD_SIZE;
  return Math.max(MIN_RECORD_SIZE, Math.min(MAX_RECORD_SIZE, size));
}

export function recordSizeFor(maxMessage, preferred = PREFERRED_RECORD_SIZE) {
  return Math.max(MIN_RECORD_SIZE, Math.min(MAX_RECORD_SIZE, maxMessage, preferred));
}

// --- the pipe -----------------------------------------------------------------------

/** A data channel with an inbox (`recv`) and back-pressured `send`. */
export class Pipe {
  constructor(pc, channel, remoteSdp) {
    this.pc = pc;
    this.channel = channel;
    this.maxMessageSize = maxMessageSize(remoteSdp);
    this.inbox = [];
    this.recvWaiter = null;
    this.drainWaiter = null;
    this.closeReason = null;
    this.maxBuffered = 0;
    this.leastRtt = null; // seconds (measureRtt)
    let markClosed;
    this.closed = new Promise((resolve) => (markClosed = resolve));
    this.markClosed = markClosed;
    channel.binaryType = "arraybuffer";
    channel.bufferedAmountLowThreshold = LOW_WATER;
    channel.onmessage = (e) => {
      this.inbox.push(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
      this.wake("recvWaiter");
    };
    channel.onbufferedamountlow = () => this.wake("drainWaiter");
    channel.onclose = () => this.close("the data channel was closed");
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed" || pc.connectionState === "closed") this.close(`the connection ${pc.connectionState}`);
    });
  }

  wake(which) {
    const w = this[which];
    this[which] = null;
    if (w) w();
  }

  async send(data) {
    while (this.channel.bufferedAmount >= HIGH_WATER && !this.closeReason) {
      await new Promise((resolve) => (this.drainWaiter = resolve));
    }
    if (this.closeReason) throw new ChannelClosed(this.closeReason);
    const size = typeof data === "string" ? data.length : data.byteLength;
    if (size > this.maxMessageSize) throw new SendError("protocol", `A ${size}-byte message exceeds the peer's limit of ${this.maxMessageSize}.`);
    try {
      this.channel.send(data);
    } catch (e) {
      throw new ChannelClosed(`cannot send: ${e.message}`);
    }
    if (this.channel.bufferedAmount > this.maxBuffered) this.maxBuffered = this.channel.bufferedAmount;
  }

  async recv() {
    while (!this.inbox.length) {
      if (this.closeReason) throw new ChannelClosed(this.closeReason);
      await new Promise((resolve) => (this.recvWaiter = resolve));
    }
    return this.inbox.shift();
  }

  /** 'relay' if the selected candidate pair goes through TURN, else 'direct'. */
  async path() {
    const stats = await this.pc.getStats();
    const pair = selectedPair(stats);
    if (!pair) return "direct";
    const types = [stats.get(pair.localCandidateId), stats.get(pair.remoteCandidateId)].map((c) => c && c.candidateType);
    return types.includes("relay") ? "relay" : "direct";
  }

  /** Reads the selected pair's round trip (ICE's checks: no queue of SCTP's in it) and
   *  keeps the least in `leastRtt` (seconds, null before one), which the flow-control
   *  window's tuning reads (window.js). */
  async measureRtt() {
    const rtt = selectedPair(await this.pc.getStats())?.currentRoundTripTime;
    if (typeof rtt === "number" && rtt > 0) this.leastRtt = Math.min(this.leastRtt ?? Infinity, rtt);
    return this.leastRtt ?? null;
  }

  close(reason = "closed locally") {
    if (this.closeReason) return;
    this.closeReason = reason;
    this.wake("recvWaiter");
    this.wake("drainWaiter");
    this.markClosed();
    try {
      this.channel.close();
      this.pc.close();
    } catch {
      // already closed
    }
  }
}

// --- setup --------------------------------------------------------------------------

function midOf(sdp) {
  const m = /^a=mid:(\S+)/m.exec(sdp);
  return m ? m[1] : "0";
}

/** Candidates: ours out (filtered, after our description), theirs in (filtered). */
function wireCandidates(pc, router, attempt, localOnly) {
  let described = false;
  const pending = [];
  const out = (c) => {
    if (!c) return router.send(attempt, "candidate", "");
    if (!c.candidate || !acceptsCandidate(c.candidate, localOnly)) return null;
    return router.send(attempt, "candidate", c.candidate);
  };
  pc.onicecandidate = (e) => (described ? out(e.candidate) : pending.push(e.candidate));
  return {
    described() {
      described = true;
      pending.splice(0).forEach(out);
    },
    async applyRemote(remoteSdp) {
      const mid = midOf(remoteSdp);
      const apply = async (m) => {
        if (m.kind !== "candidate" || pc.signalingState === "closed") return;
        if (!m.data) await pc.addIceCandidate(null).catch(() => {});
        else if (acceptsCandidate(m.data, localOnly)) {
          await pc.addIceCandidate({ candidate: m.data.replace(/^a=/, ""), sdpMid: mid, sdpMLineIndex: 0 }).catch(() => {});
        }
      };
      for (const m of attempt.early || []) await apply(m);
      for (;;) {
        const m = await attempt.inbox.get();
        if (pc.signalingState === "closed") return;
        await apply(m);
      }
    },
  };
}

function failedOrTimeout(pc, timeoutMs) {
  return new Promise((_, reject) => {
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed") reject(new SendError("network", "No connection could be made to the other side.", "ice-failed"));
    });
    after(timeoutMs).then(() => reject(new SendError("network", `No data channel opened within ${timeoutMs / 1000} s.`, "timeout")));
  });
}

function channelOpen(channel) {
  return channel.readyState === "open" ? Promise.resolve() : new Promise((resolve) => channel.addEventListener("open", resolve, { once: true }));
}

/** Sender side: create the channel, offer, apply the answer, wait until open. */
export async function openAsOfferer(router, attempt, config, localOnly, timeoutMs = 15_000) {
  const pc = new RTCPeerConnection(config);
  const channel = pc.createDataChannel(LABEL, { ordered: true });
  const cands = wireCandidates(pc, router, attempt, localOnly);
  const fail = failedOrTimeout(pc, timeoutMs);
  try {
    const body = (async () => {
      await pc.setLocalDescription(await pc.createOffer());
      await router.send(attempt, "offer", described(pc, localOnly));
      cands.described();
      const answer = await receiveKind(attempt, "answer");
      await pc.setRemoteDescription({ type: "answer", sdp: filterSdp(answer.data, localOnly) });
      cands.applyRemote(answer.data).catch(() => {});
      const pipe = new Pipe(pc, channel, answer.data);
      await channelOpen(channel);
      return pipe;
    })();
    return await router.race(Promise.race([body, fail]));
  } catch (e) {
    pc.close();
    throw e;
  }
}

/** Receiver side: wait for the offer, answer it, wait for the sender's channel. */
export async function openAsAnswerer(router, attempt, config, localOnly, timeoutMs = 15_000) {
  const pc = new RTCPeerConnection(config);
  const cands = wireCandidates(pc, router, attempt, localOnly);
  const arrived = new AsyncQueue();
  let offerSdp = "";
  pc.ondatachannel = (e) => {
    if (e.channel.label !== LABEL) {
      e.channel.close();
      return;
    }
    arrived.put(new Pipe(pc, e.channel, offerSdp)); // attach now: messages may follow at once
  };
  const fail = failedOrTimeout(pc, timeoutMs);
  try {
    const body = (async () => {
      const offer = await receiveKind(attempt, "offer");
      offerSdp = offer.data;
      await pc.setRemoteDescription({ type: "offer", sdp: filterSdp(offer.data, localOnly) });
      await pc.setLocalDescription(await pc.createAnswer());
      await router.send(attempt, "answer", described(pc, localOnly));
      cands.described();
      cands.applyRemote(offer.data).catch(() => {});
      const pipe = await arrived.get();
      await channelOpen(pipe.channel);
      return pipe;
    })();
    return await router.race(Promise.race([body, fail]));
  } catch (e) {
    pc.close();
    throw e;
  }
}
