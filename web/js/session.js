// Sender and receiver sessions: the same steps as transfer_core/session (protocol.md §7-8).
//
// Sender:   waiting -> connecting -> transferring -> done      (break: back to waiting)
//           waiting -> storing -> stored   (no receiver within ?p2p= seconds, or a break not
//                                           healed within the grace: the S3 fallback, §10)
// Receiver: joining -> connecting -> transferring -> verifying -> done
// Either may end in `failed` with a SendError whose `kind` tells the person what to do.

import { concat, formatBytes, unb64, b64 } from "./bytes.js";
import * as P from "./protocol.js";
import { ChannelClosed, openAsAnswerer, openAsOfferer, recordSizeFor, rtcConfig } from "./peer.js";
import { storeTransfer } from "./storage.js";
import { applyLimits, reportDownload } from "./control.js";
import { Relay, SignalRouter, newToken } from "./signalling.js";
import { chooseSink } from "./sink.js";
import { RECEIPT_WAIT_MS, receiverId, signReceipt, verifyReceipt } from "./receipt.js";
import { forgetUpload, rememberUpload, resumeSource } from "./upload-resume.js";
import { SendWindow } from "./window.js";
import { TreeSink, parseAnyManifest } from "./tree.js";
import { iceForAttempt } from "./turn.js";
import { receiverHasher } from "./hasher.js";

// the receiver acknowledges at least this often, and whenever it has nothing more to read,
// so a sender at the edge of its flow-control window is never left waiting (§8)
const ACK_EVERY_RECORDS = 8;
const ACK_EVERY_MS = 250;
const CLOSE_GRACE_MS = 5000;
const HASH_SLICE = 8 * 1024 * 1024;
const READ_BATCH_BYTES = 1024 * 1024;
// liveness (protocol.md §8): the receiver repeats its last `have` at least this often...
const HEARTBEAT_MS = 1000;
// ...and a side that hears nothing for this long gives the channel up (as the CLI does)
const SILENCE_MS = 5000;

/** Closes `pipe` once nothing arrived for SILENCE_MS; `heard()` on every message. */
function watchSilence(pipe, who) {
  let last = performance.now();
  const timer = setInterval(() => {
    if (pipe.inbox.length) last = performance.now(); // not silent: we are slow to read
    else if (performance.now() - last > SILENCE_MS) pipe.close(`the ${who} went silent for ${SILENCE_MS / 1000} s`);
  }, HEARTBEAT_MS);
  return { heard: () => (last = performance.now()), last: () => last, stop: () => clearInterval(timer) };
}

/** Rate and ETA from progress samples over the last few seconds. */
export class Meter {
  constructor() {
    this.samples = [];
    this.started = null;
  }
  add(done, total) {
    const now = performance.now();
    if (this.started === null) this.started = now;
    this.samples.push([now, done]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 3000) this.samples.shift();
    const [t0, d0] = this.samples[0];
    const rate = now > t0 ? ((done - d0) * 1000) / (now - t0) : 0;
    return { done, total, rate, eta: rate > 0 ? (total - done) / rate : null };
  }
}

export async function connectRelay(settings, keys, role, token, first = null) {
  if (!settings.server) throw new P.SendError("network", "No signalling server is configured: add ?server=wss://… to the page address.");
  const relay = await Relay.connect(settings.server, keys.roomKey, role, token);
  try {
    const hello = relay.request("hello");
    hello.catch(() => {}); // awaited below, unless `first` fails
    if (first) await first(relay); // what follows the hello at once: a receiver's ready (protocol.md 2.3)
    const welcome = await hello;
    // the relay sends its ICE servers with the welcome; older relays need asking
    const iceServers = welcome.iceServers ?? (await relay.request("ice-servers")).iceServers;
    return { relay, welcome, config: rtcConfig(iceServers || [], settings) };
  } catch (e) {
    relay.close();
    throw e;
  }
}

function control(text) {
  if (typeof text !== "string") throw new P.SendError("protocol", "Expected a control message, got binary data.");
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new P.SendError("protocol", "An unreadable control message.");
  }
  if (doc.t === "have") return { t: "have", ...P.decodeRanges(unb64(doc.r)) };
  if (doc.t === "done" || doc.t === "fail") return doc;
  throw new P.SendError("protocol", `Unknown control message ${doc.t}.`);
}

function peerFailed(doc) {
  const kind = doc.code === "verification" ? "verification" : doc.code === "exists" ? "exists" : "protocol";
  return new P.SendError(kind, `The other side gave up: ${doc.message}`, doc.code);
}

// --- sender ---------------------------------------------------------------------------

export class Sender {
  /** `options.secret`: a secret agreed through a spoken code (code.js) instead of a new one;
   *  `options.onJoined`: called once this side is in the transfer's room;
   *  `options.resume`: an interrupted upload of this file to finish (upload-resume.js). */
  constructor(file, settings, report, options = {}) {
    this.options = options;
    this.file = file;
    this.settings = settings;
    this.report = report;
    this.source = null;
    this.attempts = 0;
    this.resentBytes = 0;
    this.sent = new Set();
    this.held = []; // the receiver's last `have` (ranges): what storage need not hold
    this.receivers = new Set(); // receivers in the room (a `bye` "storage" goes to them)
    this.pendingReady = null;
    this.resume = options.resume ?? null;
  }

  /** Make the link at once; then hash, connect and send. Resolves with a summary. */
  async run() {
    const secret = this.resume ? P.parseLink(this.resume.code) : this.options.secret ?? P.newSecret();
    this.keys = await P.deriveKeys(secret);
    this.code = P.codeOf(secret);
    this.report.link(this.settings.linkFor(this.code));
    this.hashing = this.hash();
    this.hashing.catch(() => {});
    if (this.resume) {
      // the same file (SHA-256) or nothing is sent; then the same records and part plan
      this.source = await resumeSource(this.resume, this.keys, this.hashing);
      this.held = this.resume.first ? [[0, this.resume.first]] : [];
    }
    const { relay, welcome, config } = await connectRelay(this.settings, this.keys, "sender", newToken());
    this.options.onJoined?.();
    this.relay = relay;
    this.config = config;
    for (const peer of welcome.peers || []) if (peer.role === "receiver") this.receivers.add(peer.id);
    const unlisten = relay.listen((m) => {
      if (m.type === "peer-joined" && m.peer.role === "receiver") this.receivers.add(m.peer.id);
      if (m.type === "peer-left") this.receivers.delete(m.peer.id);
    });
    const router = new SignalRouter(relay, this.keys.signalKey, "sender");
    try {
      await applyLimits(relay, this.options.limits); // --downloads / --expires (control.js)
      return await this.loop(router);
    } finally {
      unlisten();
      router.close();
      relay.close();
    }
  }

  async hash() {
    const { file } = this;
    // many files (#15): a SHA-256 per file, no whole-stream hash
    if (file.tree) return file.hashEntries((done, total) => this.report.preparing(done, total));
    const hasher = await P.fileHasher();
    for (let at = 0; at < file.size || at === 0; at += HASH_SLICE) {
      hasher.update(new Uint8Array(await this.read(at, Math.min(file.size, at + HASH_SLICE))));
      this.report.preparing(Math.min(file.size, at + HASH_SLICE), file.size);
      if (file.size === 0) break;
    }
    return hasher.digestHex();
  }

  async read(start, end) {
    try {
      return await this.file.slice(start, end).arrayBuffer();
    } catch {
      throw new P.SendError("source-changed", "The file could not be read: it was changed, moved or deleted after you picked it.");
    }
  }

  /**
   * As the Python sender's loop: wait for the receiver until the deadline (`?p2p=` seconds
   * from the start; the reconnect grace from a break), then store in S3. A failed
   * connection attempt does not move the deadline.
   */
  async loop(router) {
    // a resumed upload goes on storing at once
    let deadline = performance.now() + (this.resume ? 0 : this.settings.p2pTimeoutMs);
    let broken = false;
    for (;;) {
      const storing = this.settings.storage && !this.noStorage;
      this.report.state("waiting", broken ? "Connection lost; waiting for the receiver to come back."
        : storing && !this.attempts ? `Waiting for the receiver to open the link; after ${Math.round(this.settings.p2pTimeoutMs / 1000)} s the encrypted file is stored for it instead.`
          : "Waiting for the receiver to open the link.");
      // unbounded only while nothing was sent and there is no storage to fall back to
      const ms = storing || broken ? Math.max(1, deadline - performance.now()) : null;
      this.pendingReady ??= router.readies.get(); // a timed-out wait must not lose the next `ready`
      let ready;
      try {
        // past the deadline a queued `ready` starts no further attempt: a receiver retrying
        // as often as the attempts fail kept one queued (as the CLI's sender)
        if (storing && deadline <= performance.now()) throw new P.SendError("expired", "The receiver did not come back in time.", "timeout");
        ready = await router.race(this.pendingReady, ms, "The receiver did not come back in time.");
        ready = router.readies.newest(ready); // earlier `ready`s answer attempts it gave up
      } catch (e) {
        if (e.code !== "timeout" || !storing) throw e;
        try {
          return await this.store();
        } catch (e2) {
          if (e2.code !== "storage-unavailable") throw e2;
          // a relay without a bucket: stay a peer-to-peer sender, as with storage off
          this.noStorage = true;
          this.report.path("–");
          console.info(e2.message);
          if (broken) throw new P.SendError("expired", "The receiver did not come back in time, and this server cannot store the file for later.", "timeout");
          continue;
        }
      }
      this.pendingReady = null;
      this.attempts++;
      this.report.state("connecting", "Connecting to the receiver…");
      const attempt = router.attempt(ready.peerId, ready.nonce);
      this.config = await iceForAttempt(this.relay, this.config, this.settings);
      let pipe;
      try {
        pipe = await openAsOfferer(router, attempt, this.config, this.settings.localOnly, this.settings.connectTimeoutMs);
      } catch (e) {
        if (e.kind === "refused") throw e;
        console.info("connection attempt failed:", e.message);
        continue;
      }
      const unlisten = this.relay.listen((m) => {
        // this receiver only: a sender to several (fanout.js) runs one loop per receiver
        if (m.type === "peer-left" && m.peer.id === ready.peerId) pipe.close("the receiver left");
      });
      const silence = watchSilence(pipe, "receiver");
      try {
        if (await this.transfer(pipe, silence)) return { ...this.summary(), receipts: await this.takeReceipt(router) };
      } catch (e) {
        if (!(e instanceof ChannelClosed)) throw e;
      } finally {
        silence.stop();
        unlisten();
        pipe.close();
      }
      broken = true;
      // from the receiver's last word: a silent receiver has used up part of the grace
      deadline = silence.last() + this.settings.reconnectGraceMs;
    }
  }

  /** S3 fallback: store the records the receiver lacks (all, if it never said). */
  async store() {
    // the record size is the first connection's, else the preferred one (as the CLI's)
    const src = await this.openSource(recordSizeFor(Infinity, this.settings.recordSize));
    const { layout } = src;
    const gaps = P.complement(layout.count, this.held);
    const first = gaps.length ? gaps[0][0] : 0;
    const mixed = P.countIn(this.held) > 0;
    this.path = mixed ? "mixed" : "storage";
    this.report.path(this.path);
    this.report.state("storing", mixed
      ? `The direct connection did not come back: storing the ${layout.count - first} records the receiver lacks (encrypted) for it to fetch.`
      : "The receiver is not connected: storing the encrypted file for it to fetch later.");
    this.started ??= performance.now();
    let done = layout.bytesInPrefix(first);
    this.report.progress(done, layout.size);
    rememberUpload(this, first); // a reload can finish it (upload-resume.js)
    const stored = await storeTransfer({
      relay: this.relay, layout, manifestRecord: src.manifestRecord, first,
      sealRun: (start, end) => this.sealRun(start, end),
      announce: () => this.announceStorage(),
      progress: (bytes) => {
        done += bytes;
        this.report.progress(Math.min(done, layout.size), layout.size);
      },
    });
    forgetUpload(this.keys.roomId);
    const seconds = (performance.now() - this.started) / 1000;
    return { role: "sender", name: src.manifest.name, size: this.file.size, seconds, path: this.path,
      reconnects: Math.max(0, this.attempts - 1), resentBytes: this.resentBytes, mbPerS: this.file.size / 1e6 / seconds,
      storedUntil: stored.storedUntil, stored: { first, records: stored.records, parts: stored.parts, bytes: stored.bytes } };
  }

  /** The signed `bye` "storage" to the whole room: a listening receiver switches to S3 (§7). */
  async announceStorage() {
    if (!this.receivers.size) return; // the relay refuses a signal to an empty room
    try {
      const payload = await P.signEnvelope(this.keys.signalKey, { kind: "bye", role: "sender", nonce: P.newNonce(), reply_to: "", data: "storage" });
      this.relay.send({ action: "signal", payload });
    } catch (e) {
      console.info("could not announce storage:", e.message);
    }
  }

  async openSource(recordSize) {
    if (this.source) return this.source;
    this.report.state("connecting", "Preparing the file (SHA-256)…");
    const sha256 = await this.hashing;
    if (this.file.tree) return this.openTreeSource(recordSize);
    const manifest = {
      name: P.manifestName(this.file.name), size: this.file.size, media_type: this.file.type || "application/octet-stream",
      record_size: recordSize, sha256, created: P.utcNow(),
    };
    const layout = new P.Layout(manifest.size, recordSize);
    const cipher = await P.RecordCipher.create(this.keys.fileKey, crypto.getRandomValues(new Uint8Array(16)), layout);
    this.source = { manifest, layout, cipher, manifestRecord: await cipher.sealManifest(P.manifestJson(manifest)) };
    return this.source;
  }

  /** Many files: the version-2 manifest (its records, when the list is long, end to end). */
  async openTreeSource(recordSize) {
    const json = this.file.manifestJson(recordSize, P.utcNow());
    const layout = new P.Layout(this.file.size, recordSize);
    const cipher = await P.RecordCipher.create(this.keys.fileKey, crypto.getRandomValues(new Uint8Array(16)), layout);
    const manifest = { name: this.file.name, size: this.file.size, record_size: recordSize };
    this.source = { manifest, layout, cipher, manifestRecord: await cipher.sealManifest(json) };
    return this.source;
  }

  /** Seal a run of consecutive chunks [start, end) (one file read). */
  async sealRun(start, end) {
    const { layout, cipher } = this.source;
    const from = layout.offset(start);
    const bytes = new Uint8Array(await this.read(from, layout.offset(end - 1) + layout.length(end - 1)));
    const jobs = [];
    for (let i = start; i < end; i++) {
      const at = layout.offset(i) - from;
      jobs.push(cipher.seal(i, bytes.subarray(at, at + layout.length(i))));
    }
    return Promise.all(jobs);
  }

  /** Send what the receiver lacks; true once it says `done`, false on a break. */
  async transfer(pipe, silence) {
    const src = await this.openSource(recordSizeFor(pipe.maxMessageSize, this.settings.recordSize));
    const { layout } = src;
    for (const record of P.splitManifestRecords(src.manifestRecord)) await pipe.send(record);
    silence.heard();
    const recv = async () => {
      const message = await pipe.recv();
      silence.heard();
      return message;
    };
    const first = control(await recv());
    if (first.t === "fail") throw peerFailed(first);
    if (first.t !== "have") throw new P.SendError("protocol", "The receiver did not say what it holds.");
    this.held = first.ranges;
    this.path = await pipe.path();
    this.report.path(this.path);
    this.report.state("transferring", this.path === "relay" ? "Sending through a relay (TURN)." : "Sending directly, peer to peer.");
    this.started ??= performance.now();
    const total = layout.size;
    const heldBytes = (ranges) => ranges.reduce((n, [s, e]) => n + layout.bytesInPrefix(e) - layout.bytesInPrefix(s), 0);
    this.report.progress(heldBytes(first.ranges), total);
    let done = false;
    const flow = new SendWindow(undefined, undefined, () => pipe.leastRtt ?? null);
    // the path's round trip for the window's tuning: now, then every second (getStats)
    const measure = () => pipe.measureRtt().catch(() => null);
    measure();
    const measuring = setInterval(measure, 1000);
    const acks = (async () => {
      for (;;) {
        const m = control(await recv());
        if (m.t === "have") {
          flow.acked(m.ranges);
          this.held = m.ranges;
          this.report.progress(heldBytes(m.ranges), total);
        }
        else if (m.t === "done") {
          this.receiptInDone = m.receipt ?? null;
          this.report.progress(total, total);
          done = true;
          return;
        } else throw peerFailed(m);
      }
    })();
    let ackError = null;
    acks.catch((e) => {
      ackError = e;
      pipe.close("stopped");
    }).finally(() => {
      flow.close();
      clearInterval(measuring);
      // the summary's: how far any connection's window grew, over what round trip
      this.windowBytes = Math.max(this.windowBytes ?? 0, flow.limit);
      this.pathRtt = pipe.leastRtt ?? this.pathRtt ?? null;
    });
    // runs of consecutive missing chunks, cut into batches of about READ_BATCH_BYTES
    const per = Math.max(1, Math.floor(READ_BATCH_BYTES / layout.recordSize));
    const batches = [];
    for (const [s, e] of P.complement(layout.count, first.ranges)) for (let i = s; i < e; i += per) batches.push([i, Math.min(e, i + per)]);
    let next = batches.length ? this.sealRun(...batches[0]) : null;
    sending: for (let b = 0; b < batches.length; b++) {
      const records = await next;
      next = b + 1 < batches.length ? this.sealRun(...batches[b + 1]) : null;
      next?.catch(() => {});
      for (let k = 0; k < records.length; k++) {
        const index = batches[b][0] + k;
        const size = records[k].length;
        if (!flow.hasRoom(size)) await flow.roomFor(size);
        if (done || ackError) break sending;
        if (this.sent.has(index)) this.resentBytes += size;
        flow.sent(index, size);
        await pipe.send(records[k]);
        this.sent.add(index);
      }
    }
    try {
      await acks;
    } catch (e) {
      if (!(e instanceof ChannelClosed)) throw e;
    }
    if (ackError && !(ackError instanceof ChannelClosed)) throw ackError;
    return done;
  }

  /** The receiver's signed receipt: in its `done`, or through the relay from an older
   * receiver that sent it there within a round trip (#15, #10 §6). */
  async takeReceipt(router) {
    if (this.receiptInDone) {
      try {
        const receipt = await verifyReceipt(this.keys.signalKey, this.receiptInDone, this.source.manifestRecord);
        // a direct receive read nothing stored and is not reported by its receiver: a sender
        // with a download limit counts it (protocol.md 2.2); without one, nobody does
        if (receipt.path === "p2p" && this.options.limits?.downloads) await reportDownload(this.relay);
        return [receipt];
      } catch (e) {
        console.warn(e.message);
      }
    }
    const deadline = performance.now() + RECEIPT_WAIT_MS;
    while (performance.now() < deadline) {
      let msg;
      try {
        msg = await router.race(router.receipts.get(), Math.max(1, deadline - performance.now()));
      } catch {
        break;
      }
      try {
        const receipt = await verifyReceipt(this.keys.signalKey, msg.payload, this.source.manifestRecord);
        return [receipt];
      } catch (e) {
        console.warn(e.message);
      }
    }
    return [];
  }

  summary() {
    const seconds = (performance.now() - this.started) / 1000;
    return { role: "sender", name: this.source.manifest.name, size: this.file.size, seconds, path: this.path,
      reconnects: this.attempts - 1, resentBytes: this.resentBytes, mbPerS: this.file.size / 1e6 / seconds,
      windowBytes: this.windowBytes ?? null, pathRtt: this.pathRtt ?? null };
  }
}

// --- receiver -------------------------------------------------------------------------

export class Receiver {
  constructor(secret, settings, report, askPicker) {
    this.secret = secret;
    this.settings = settings;
    this.report = report;
    this.askPicker = askPicker;
    this.attempts = 0;
    this.next = 0; // chunks [0, next) are verified and written (always a prefix)
  }

  async run() {
    this.keys = await P.deriveKeys(this.secret);
    this.report.state("joining", "Looking for the sender…");
    this.token = newToken();
    this.receiverId = await receiverId(this.token);
    let router = null;
    let ahead = null;
    // the ready follows the hello at once, not a round trip later (#14, protocol.md 2.3)
    const { relay, welcome, config } = await connectRelay(this.settings, this.keys, "receiver", this.token, async (r) => {
      router = new SignalRouter(r, this.keys.signalKey, "receiver");
      ahead = router.attemptAhead();
      await router.send(ahead, "ready", this.receiverId);
    });
    this.relay = relay;
    this.config = config;
    this.router = router;
    this.senderHere = (welcome.peers || []).some((p) => p.role === "sender");
    const unlisten = relay.listen((m) => {
      if (m.peer?.role === "sender" && (m.type === "peer-joined" || m.type === "peer-left")) this.senderHere = m.type === "peer-joined";
      if (m.peer?.role === "sender" && m.type === "peer-joined") this.senderId = m.peer.id;
    });
    try {
      const sender = (welcome.peers || []).find((p) => p.role === "sender");
      this.senderId = sender?.id;
      if (!sender) return await this.fromStorage();
      return await this.loop(router, sender.id, router.aheadLost ? null : router.adopt(ahead, sender.id));
    } catch (e) {
      if (this.sink && !this.finished) await this.sink.abort(e);
      throw e;
    } finally {
      unlisten();
      router.close();
      relay.close();
    }
  }

  /** The sender is not online: S3 fallback (#6), when the relay offers it. */
  async fromStorage() {
    const { receiveFromStorage } = await import("./storage.js");
    const result = await receiveFromStorage(this);
    if (result) return result;
    throw new P.SendError("expired", "Nobody is sending on this link: the transfer has finished, expired, or the sender closed their page.");
  }

  async loop(router, senderId, readySent = null) {
    for (;;) {
      this.attempts++;
      this.senderId = senderId;
      this.report.state("connecting", "Connecting to the sender…");
      let attempt = readySent; // the first attempt's ready left with the hello
      readySent = null;
      if (!attempt) {
        this.config = await iceForAttempt(this.relay, this.config, this.settings);
        attempt = router.attempt(senderId);
        await router.send(attempt, "ready", this.receiverId);
      }
      let pipe = null;
      // the sender's `bye` "storage" ends the attempt at once (no offer is coming)
      const storing = router.storingNow.then(() => {
        pipe?.close("the sender is storing the file");
        throw new ChannelClosed("the sender is storing the file");
      });
      storing.catch(() => {});
      try {
        pipe = await Promise.race([openAsAnswerer(router, attempt, this.config, this.settings.localOnly, this.settings.connectTimeoutMs), storing]);
        return await this.receive(pipe);
      } catch (e) {
        if (!(e instanceof ChannelClosed) && !(e.kind === "network" && this.attempts < 5)) throw e;
      } finally {
        pipe?.close();
      }
      if (router.storing) return this.fromStorage();
      this.report.state("connecting", "Connection lost; reconnecting…");
      senderId = await this.senderBack(router, senderId);
      // the sender stayed away past the grace: it stores the rest in S3 (#6)
      if (senderId === null) return this.fromStorage();
    }
  }

  async senderBack(router, senderId) {
    let left = false;
    while (router.departures.items.length) {
      const m = await router.departures.get();
      if (m.type === "closed") throw new P.SendError("network", "The connection to the signalling server was lost.");
      if (m.peer?.role === "sender") left = true;
    }
    if (!left) return senderId;
    this.report.state("connecting", "The sender left; waiting for it to come back…");
    const deadline = performance.now() + this.settings.reconnectGraceMs;
    for (;;) {
      let joined;
      try {
        joined = await router.race(router.arrivals.get(), Math.max(0, deadline - performance.now()), "The sender did not come back in time.");
      } catch (e) {
        if (e.code === "timeout") return null;
        throw e;
      }
      if (joined.peer.role === "sender") return joined.peer.id;
    }
  }

  /** The manifest record (first message, or the S3 object's head): open it once. */
  async takeManifest(record) {
    if (this.cipher) {
      const { transferId } = await P.openManifestRecords(this.keys.fileKey, record);
      if (transferId.some((b, i) => b !== this.cipher.transferId[i])) {
        throw new P.SendError("protocol", "The sender restarted this transfer from the beginning; open the link again.", "restarted");
      }
      return;
    }
    const { transferId, json } = await P.openManifestRecords(this.keys.fileKey, record);
    this.manifestRecord = record;
    const manifest = parseAnyManifest(json);
    manifest.safeName = P.safeName(manifest.name);
    this.manifest = manifest;
    this.cipher = await P.RecordCipher.create(this.keys.fileKey, transferId, manifest.layout);
    this.hasher = manifest.tree ? { update() {}, digestHex: () => "" } : await receiverHasher();
    this.report.manifest(manifest);
    if (manifest.tree) {
      // many files (#15): a folder the person picks, else one download per verified file
      this.sink = await TreeSink.create(manifest, this.settings, this.keys.roomId, chooseSink, (name) => this.askPicker(name, "folder"), transferId);
      this.sink.onSaved = (item) => this.report.entrySaved?.(item);
    } else this.sink = await chooseSink(manifest, this.settings, this.keys.roomId, this.askPicker, transferId);
    this.report.sink(this.sink.kind);
    // the resumable sink writes through the hasher's worker: each chunk crosses to it once
    const through = await this.sink.hashesWith?.(this.hasher);
    this.keep = through ? (bytes) => this.sink.write(bytes) : async (bytes) => {
      await this.hasher.update(bytes);
      await this.sink.write(bytes);
    };
    if (this.sink.held) {
      // chunks verified before a reload (resume.js): the first `have` says so
      await this.sink.replay(this.hasher);
      this.next = this.sink.held;
      this.resumedBytes = this.sink.heldBytes;
    }
  }

  /** Verify one data record and write it; false for a duplicate. */
  async accept(record, expectedIndex = null) {
    const { index, plaintext } = await this.cipher.open(record, expectedIndex);
    if (index < this.next) return false;
    if (index > this.next) throw new P.SendError("protocol", `Record ${index} arrived before record ${this.next}.`);
    await this.keep(plaintext);
    this.next++;
    return true;
  }

  async receive(pipe) {
    const first = await pipe.recv();
    if (typeof first === "string") throw new P.SendError("protocol", "The sender did not start with the manifest.");
    const records = [first];
    for (let i = P.manifestRecordCount(first); i > 1; i--) records.push(await pipe.recv()); // a long list (#15)
    if (records.some((r) => typeof r === "string")) throw new P.SendError("protocol", "The sender's manifest records were cut short.");
    await this.takeManifest(records.length === 1 ? first : concat(...records));
    const { layout } = this.manifest;
    const have = () => JSON.stringify({ t: "have", r: b64(P.encodeRanges(layout.count, this.next ? [[0, this.next]] : [])) });
    await pipe.send(have());
    let ackedAt = performance.now();
    // heartbeat: the last `have` again whenever none went for HEARTBEAT_MS, verifying included
    const beat = setInterval(() => {
      if (performance.now() - ackedAt < HEARTBEAT_MS) return;
      ackedAt = performance.now();
      pipe.send(have()).catch(() => {});
    }, HEARTBEAT_MS / 4);
    try {
      return await this.receiveRecords(pipe, layout, have, () => (ackedAt = performance.now()));
    } finally {
      clearInterval(beat);
    }
  }

  async receiveRecords(pipe, layout, have, acked) {
    this.path = await pipe.path();
    this.report.path(this.path);
    this.report.state("transferring", `Receiving ${this.manifest.safeName} ${this.path === "relay" ? "through a relay (TURN)" : "directly, peer to peer"}.`);
    this.started ??= performance.now();
    this.report.progress(layout.bytesInPrefix(this.next), layout.size);
    let unacked = 0;
    let ackedAt = performance.now();
    const silence = watchSilence(pipe, "sender");
    try {
      while (this.next < layout.count) {
        let message;
        try {
          message = await pipe.recv();
        } finally {
          silence.heard();
        }
        if (typeof message === "string") {
          const doc = control(message);
          throw doc.t === "fail" ? peerFailed(doc) : new P.SendError("protocol", "Unexpected control message from the sender.");
        }
        try {
          await this.accept(message);
        } catch (e) {
          if (e.kind === "verification") await pipe.send(JSON.stringify({ t: "fail", code: "verification", message: e.message })).catch(() => {});
          throw e;
        }
        unacked++;
        if (unacked >= ACK_EVERY_RECORDS || !pipe.inbox.length || performance.now() - ackedAt >= ACK_EVERY_MS) {
          acked();
          await pipe.send(have());
          this.report.progress(layout.bytesInPrefix(this.next), layout.size);
          unacked = 0;
          ackedAt = performance.now();
        }
      }
    } finally {
      silence.stop();
    }
    const result = await this.finish("p2p");
    // the signed receipt rides in `done`, over the channel the sender reads anyway (#10 §6)
    await pipe.send(JSON.stringify({ t: "done", receipt: result.signedReceipt }));
    // the sender closes once it reads `done`; closing first could cut `done` off
    await Promise.race([pipe.closed, new Promise((r) => setTimeout(r, CLOSE_GRACE_MS))]);
    return result;
  }

  /** All chunks held: check the whole-file SHA-256, then let the file have its name. */
  async finish(via) {
    const { layout } = this.manifest;
    this.report.progress(layout.size, layout.size);
    this.report.state("verifying", "Verifying the whole file's SHA-256…");
    const digest = this.manifest.tree ? "" : await this.hasher.digestHex(); // a tree: each file checked as it came
    if (!this.manifest.tree && digest !== this.manifest.sha256) {
      throw new P.SendError("verification", "The file's SHA-256 does not match the manifest: nothing was saved.", "hash-mismatch");
    }
    const { blob, saved, entries } = await this.sink.finish();
    this.finished = true;
    const path = via === "s3" ? (this.mixed ? "p2p+s3" : "s3") : "p2p";
    const fields = { receiver: this.receiverId, manifestRecord: this.manifestRecord, records: layout.count, size: layout.size, path, at: Math.floor(Date.now() / 1000) };
    const signedReceipt = await signReceipt(this.keys.signalKey, fields);
    let receipt = { receiver: fields.receiver, path }; // peer to peer: the caller hands it over in `done`
    if (via === "s3") {
      await reportDownload(this.relay); // a download of the stored file counts against the sender's limit
      receipt = this.sendReceipt(signedReceipt) ? receipt : null;
    }
    const seconds = (performance.now() - this.started) / 1000;
    return { role: "receiver", name: this.manifest.safeName, size: layout.size, seconds, path: via === "s3" ? (this.mixed ? "mixed" : "storage") : this.path,
      reconnects: this.attempts - 1, sha256: digest, sink: this.sink.kind, blob, saved, mbPerS: layout.size / 1e6 / seconds,
      sizeText: formatBytes(layout.size), resumedBytes: this.resumedBytes ?? 0, receipt, signedReceipt, entries };
  }

  /** After a receive from storage, tell the sender through the relay, signed, that the whole
   * file is here and verified (best effort, #15); false if nobody could be told. */
  sendReceipt(signed) {
    if (!this.senderHere || !this.senderId) return false; // nobody to tell: the sender has left
    try { // to the sender alone: the other receivers of the room have no use for it
      this.relay.send({ action: "signal", to: this.senderId, payload: signed });
    } catch (e) {
      console.info("the receipt did not reach the relay:", e.message);
      return false;
    }
    return true;
  }
}
