// The page as a sender to several receivers (#15 §2; the CLI's `send --receivers N`).
//
// One relay connection, one signal router (one attempt per peer), one hash and one sealed
// manifest; each receiver that says `ready` gets a lane: the one-receiver Sender's loop
// (connect, send, reconnect after a break) over its own data channel, every lane reading
// the same sealed records. A receiver is known by the name its `ready` carries (receipt.js
// `receiverId`, stable across its reconnects) and keeps its number 1…N by arrival; late
// receivers are served as the first. Peer to peer only: the page stores nothing for
// several receivers (the CLI stores one copy for absent ones), so it stays open until
// each of the N has had its lane.

import * as P from "./protocol.js";
import { formatBytes } from "./bytes.js";
import { recordSizeFor } from "./peer.js";
import { RECEIPT_WAIT_MS, verifyReceipt } from "./receipt.js";
import { Meter, Sender, connectRelay } from "./session.js";
import { SignalRouter, after, newToken } from "./signalling.js";

/** The send page's receivers control as a number (1 = the usual one-receiver send). */
export function receiversFrom(value, { code = false, limits = null } = {}) {
  const n = value === "" || value == null ? 1 : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new P.SendError("receivers", "The number of receivers must be a whole number, 1 or more.");
  if (n > 1 && code) throw new P.SendError("receivers", "A spoken code admits one receiver: send a link to send to several.");
  if (n > 1 && limits) {
    throw new P.SendError("receivers", "Download limits and expiry are for a stored file; the page sends to several receivers directly and stores nothing.");
  }
  return n;
}

/** The newest item only: a receiver's earlier `ready`s are attempts it already gave up. */
class Latest {
  constructor() {
    this.item = null;
    this.waiter = null;
  }
  put(item) {
    if (this.waiter) this.waiter(item);
    else this.item = item;
    this.waiter = null;
  }
  get() {
    const item = this.item;
    this.item = null;
    return item ? Promise.resolve(item) : new Promise((resolve) => (this.waiter = resolve));
  }
}

/**
 * What one lane sees of the shared router: its own receiver's `ready`s. A newer `ready`
 * while connecting ends that attempt at once: the receiver gave it up (its connect timeout
 * may be shorter than ours), and answering stale `ready`s one by one would never catch up.
 */
class LaneRouter {
  constructor(main) {
    this.main = main;
    this.latest = new Latest();
    // `Latest` keeps a receiver's newest `ready` only: what it hands out is the newest
    this.readies = { get: () => this.nextReady(), newest: (ready) => ready };
    this.superseded = null;
    this.supersede = null;
  }
  /** From the dispatcher: a `ready` of this lane's receiver. */
  put(ready) {
    this.supersede?.();
    this.latest.put(ready);
  }
  nextReady() {
    this.superseded = this.supersede = null; // between attempts: nothing to end
    return this.latest.get();
  }
  attempt(peerId, peerNonce) {
    this.superseded = new Promise((_, reject) => (this.supersede = () =>
      reject(new P.SendError("network", "The receiver started a new connection attempt.", "superseded"))));
    this.superseded.catch(() => {});
    return this.main.attempt(peerId, peerNonce);
  }
  send(attempt, kind, data) {
    return this.main.send(attempt, kind, data);
  }
  race(promise, ms, late) {
    return this.main.race(this.superseded ? Promise.race([promise, this.superseded]) : promise, ms, late);
  }
}

export class FanOutSender {
  /** `report`: the page's report (state, link, preparing) plus `lane(number, fields)`, one
   *  receiver's line: `{state, text}`, `{done, total, rate}`, `{path}` or `{receipt}`. */
  constructor(file, settings, report, receivers) {
    this.file = file;
    this.settings = settings;
    this.report = report;
    this.count = receivers;
    this.lanes = new Map(); // by the receiver's name (its `ready` data), else its connection id
    this.receipts = new Map(); // verified, by receiver name
    this.receiptWaiters = [];
  }

  async run() {
    const secret = P.newSecret();
    this.keys = await P.deriveKeys(secret);
    const { relay, welcome, config } = await connectRelay(this.settings, this.keys, "sender", newToken());
    const router = new SignalRouter(relay, this.keys.signalKey, "sender");
    this.router = router;
    try {
      const limit = welcome.limits?.maxReceivers;
      if (Number.isInteger(limit) && this.count > limit) {
        throw new P.SendError("receivers", `This server allows at most ${limit} receiver${limit === 1 ? "" : "s"} per link; you asked for ${this.count}.`, "too-many-receivers");
      }
      // the link only once the server has said it takes this many receivers
      this.report.link(this.settings.linkFor(P.codeOf(secret)));
      // one hash and one sealed manifest, shared by every lane
      const base = new Sender(this.file, this.settings, this.report);
      base.keys = this.keys;
      base.hashing = base.hash();
      base.hashing.catch(() => {});
      this.source = await base.openSource(recordSizeFor(Infinity, this.settings.recordSize));
      this.report.state("waiting", `Waiting for ${this.count} receivers to open the link (keep this page open until each has the file).`);
      this.started = performance.now();
      const collecting = this.collectReceipts(router);
      const outcomes = await router.race(this.serve(router, relay, config, base));
      const delivered = outcomes.filter((o) => o.summary);
      if (!delivered.length) throw outcomes[0].error;
      this.report.state("receipts", "Waiting for the receivers' signed receipts…");
      await this.waitForReceipts(delivered.length);
      collecting.catch(() => {});
      return this.summary(outcomes);
    } finally {
      this.stopped = true;
      router.close();
      relay.close();
    }
  }

  /** Give each new receiver a lane; resolves with every lane's outcome once all N ended. */
  serve(router, relay, config, base) {
    return new Promise((resolve) => {
      const outcomes = [];
      (async () => {
        while (!this.stopped) {
          const ready = await router.readies.get();
          const key = ready.who || ready.peerId;
          let lane = this.lanes.get(key);
          if (!lane) {
            if (this.lanes.size >= this.count) continue; // past the N asked for: not served
            lane = this.newLane(relay, config, base, this.lanes.size + 1, key);
            this.lanes.set(key, lane);
            lane.loop(lane.router).then((summary) => ({ lane, summary }), (error) => ({ lane, error })).then((outcome) => {
              this.report.lane(lane.number, outcome.summary
                ? { state: "done", text: "sent; it verified the whole transfer" }
                : { state: "failed", text: outcome.error.message });
              outcomes.push(outcome);
              if (outcomes.length === this.count) resolve(outcomes.sort((a, b) => a.lane.number - b.lane.number));
            });
          }
          lane.router.put(ready);
        }
      })();
    });
  }

  newLane(relay, config, base, number, key) {
    const meter = new Meter();
    const line = (fields) => this.report.lane(number, fields);
    const report = {
      state: (state, text) => line({ state, text }),
      progress: (done, total) => line({ done, total, rate: meter.add(done, total).rate }),
      path: (path) => line({ path }),
      preparing: () => {},
      link: () => {},
    };
    line({ state: "connecting", text: "opened the link" });
    const lane = new Sender(this.file, { ...this.settings, storage: false }, report);
    Object.assign(lane, { keys: this.keys, relay, config, source: this.source, hashing: base.hashing, number, key });
    lane.router = new LaneRouter(this.router);
    lane.takeReceipt = async () => { // verified here (acceptReceipt): the one in its `done`, or the relay's as they come
      if (lane.receiptInDone) await this.acceptReceipt(lane.receiptInDone).catch((e) => console.warn(e.message));
      return [];
    };
    return lane;
  }

  /** Receipts through the relay (from 2.1 receivers), verified as they come (a forged one is logged, not fatal). */
  async collectReceipts(router) {
    while (!this.stopped) {
      const msg = await router.receipts.get();
      try {
        await this.acceptReceipt(msg.payload);
      } catch (e) {
        console.warn(e.message);
      }
    }
  }

  /**
   * Verify one receiver's signed receipt (the envelope receipt.js signs) against this
   * transfer's sealed manifest, and show it on that receiver's line. The one place a
   * receipt is checked, whatever carried it (a channel's `done`, or the relay).
   */
  async acceptReceipt(payload) {
    const receipt = await verifyReceipt(this.keys.signalKey, payload, this.source.manifestRecord);
    const number = this.lanes.get(receipt.receiver)?.number ?? null;
    const entry = { receiver_number: number, ...receipt };
    this.receipts.set(receipt.receiver, entry);
    if (number !== null) this.report.lane(number, { receipt: entry });
    for (const wake of this.receiptWaiters.splice(0)) wake();
    return entry;
  }

  async waitForReceipts(expected) {
    const deadline = performance.now() + RECEIPT_WAIT_MS;
    while (this.receipts.size < expected && performance.now() < deadline) {
      await Promise.race([new Promise((wake) => this.receiptWaiters.push(wake)), after(deadline - performance.now())]);
    }
  }

  summary(outcomes) {
    const seconds = (performance.now() - this.started) / 1000;
    const delivered = outcomes.filter((o) => o.summary);
    return {
      role: "sender", name: this.source.manifest.name, size: this.file.size, seconds,
      path: [...new Set(delivered.map((o) => o.summary.path))].join("+"),
      mbPerS: (this.file.size * delivered.length) / 1e6 / seconds,
      receivers: outcomes.map(({ lane, summary, error }) => summary
        ? { receiver: lane.number, id: lane.key, outcome: "delivered", path: summary.path, seconds: summary.seconds,
          mbPerS: summary.mbPerS, reconnects: summary.reconnects, resentBytes: summary.resentBytes }
        : { receiver: lane.number, id: lane.key, outcome: "failed", error: error.message }),
      receipts: [...this.receipts.values()].sort((a, b) => (a.receiver_number ?? 1e9) - (b.receiver_number ?? 1e9)),
    };
  }
}

/** The page's closing line for a send to several receivers. */
export function fanOutDoneText(summary) {
  const got = summary.receivers.filter((r) => r.outcome === "delivered").length;
  const failed = summary.receivers.length - got;
  return `Sent ${summary.name} (${formatBytes(summary.size)}) to ${got} of ${summary.receivers.length} receivers in ${summary.seconds.toFixed(1)} s`
    + `${failed ? ` (${failed} failed)` : ""}; signed receipts from ${summary.receipts.length}.`;
}

/** One line per receiver in `list` (an <ol>): state, progress, path, receipt. `onChange`
 *  gets every line's fields (the tests read them as window.sgraph.lanes). */
export function laneLines(list, onChange = () => {}) {
  const lanes = {};
  return (number, fields) => {
    const lane = (lanes[number] ??= { receiver: number, state: "connecting", text: "", done: 0, total: 0, rate: 0, path: "", receipt: null });
    Object.assign(lane, fields);
    let item = list.querySelector(`li[data-receiver="${number}"]`);
    if (!item) {
      item = document.createElement("li");
      item.dataset.receiver = String(number);
      item.innerHTML = '<span class="badge"></span> <span class="lane-text"></span><progress max="1" value="0"></progress><span class="figures"></span>';
      list.append(item);
      list.hidden = false;
    }
    item.dataset.state = lane.state;
    item.querySelector(".badge").textContent = `receiver ${number}: ${lane.state}`;
    item.querySelector(".lane-text").textContent = lane.receipt ? `signed receipt ${lane.receipt.receiver} (${lane.receipt.path})` : lane.text;
    const bar = item.querySelector("progress");
    bar.max = lane.total || 1;
    bar.value = lane.total ? lane.done : 0;
    item.querySelector(".figures").textContent = lane.total
      ? `${formatBytes(lane.done)} of ${formatBytes(lane.total)} · ${(lane.rate / 1e6).toFixed(1)} MB/s${lane.path ? ` · ${lane.path}` : ""}`
      : "";
    onChange({ ...lanes });
  };
}
