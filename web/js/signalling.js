// The WebSocket relay (docs/signalling.md) and the signed-signal router (protocol.md §7).
// The relay sees the room key's hash (the room id) and the envelopes, never the link
// secret, the file or signalling key. The room key is the capability that admits us:
// it travels in the Sec-WebSocket-Protocol header, never in the URL.

import { b64url, randomBytes } from "./bytes.js";
import { SUBPROTOCOL, SendError, connectSubprotocols, newNonce, openEnvelope, signEnvelope } from "./protocol.js";

const PING_MS = 240_000;

/** An unbounded async FIFO: put() never waits, get() waits for an item. */
export class AsyncQueue {
  constructor() {
    this.items = [];
    this.waiters = [];
  }
  put(item) {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }
  get() {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  /** `item` (just taken), or the newest still queued behind it; the older are dropped. */
  newest(item) {
    return this.items.length ? this.items.splice(0).pop() : item;
  }
}

/** Resolves with `value` after `ms`, or rejects with `error` if given. */
export function after(ms, error = null) {
  return new Promise((resolve, reject) => setTimeout(() => (error ? reject(error) : resolve()), ms));
}

export function newToken() {
  return b64url(randomBytes(24));
}

/** One WebSocket to the relay; `events` is an AsyncQueue of every server message. */
export class Relay {
  static connect(server, roomKey, role, token) {
    return Relay.open(server, { role, token }, connectSubprotocols(roomKey));
  }

  /** Join the room a spoken code's nameplate names, as its receiver (uses it up); the
   * nameplate is the capability, so only the protocol version is offered. */
  static connectNameplate(server, nameplate, token) {
    return Relay.open(server, { nameplate: String(nameplate), role: "receiver", token }, [SUBPROTOCOL]);
  }

  static open(server, params, subprotocols) {
    const url = new URL(server);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(url.toString(), subprotocols);
      } catch (e) {
        reject(new SendError("network", `The signalling server address ${server} is not usable: ${e.message}`));
        return;
      }
      ws.onopen = () => {
        if (ws.protocol !== SUBPROTOCOL) {
          ws.close();
          reject(new SendError("network", `The signalling server does not speak ${SUBPROTOCOL}; it needs an update.`));
          return;
        }
        resolve(new Relay(ws));
      };
      ws.onerror = () => reject(new SendError("network",
        `Could not reach the signalling server (${url.origin}${url.pathname}), or it refused this link's room (busy, rate-limited, or too many connections open from your network). Check your connection, close other transfers, and try again.`));
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.events = new AsyncQueue();
    this.replies = new Map(); // ref -> resolve
    this.closed = false;
    this.listeners = new Set();
    this.nextRef = 1;
    ws.onmessage = (e) => this.onMessage(e.data);
    ws.onclose = () => {
      this.closed = true;
      clearInterval(this.pinger);
      this.dispatch({ type: "closed" });
    };
    this.pinger = setInterval(() => this.send({ action: "ping" }), PING_MS);
  }

  onMessage(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.ref && this.replies.has(msg.ref)) {
      const resolve = this.replies.get(msg.ref);
      this.replies.delete(msg.ref);
      resolve(msg);
      return;
    }
    this.dispatch(msg);
  }

  dispatch(msg) {
    for (const fn of this.listeners) fn(msg);
  }

  listen(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  send(obj) {
    if (!this.closed && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  /** Send an action and wait for the reply that echoes its `ref`. */
  request(action, fields = {}, timeoutMs = 15_000) {
    const ref = String(this.nextRef++);
    return Promise.race([
      new Promise((resolve) => {
        this.replies.set(ref, resolve);
        this.send({ action, ...fields, ref });
      }),
      after(timeoutMs, new SendError("network", `The signalling server did not answer '${action}' in time.`)),
    ]).then((reply) => {
      if (reply.type === "error") throw new SendError(reply.code === "unknown-action" ? "unsupported" : "network", reply.message, reply.code);
      return reply;
    });
  }

  close() {
    clearInterval(this.pinger);
    this.closed = true;
    try {
      this.ws.close(1000);
    } catch {
      // already closed
    }
  }
}

const other = (role) => (role === "sender" ? "receiver" : "sender");

/**
 * Verifies every signal and routes it to our current connection attempt with the peer it
 * comes from (one per peer), as the Python `SignalRouter`: messages answering an earlier attempt of ours are dropped; a forged
 * MAC, a reflected message or a reply to a nonce we never made refuses the connection.
 */
export class SignalRouter {
  constructor(relay, signalKey, role) {
    this.relay = relay;
    this.key = signalKey;
    this.role = role;
    this.peerRole = other(role);
    this.readies = new AsyncQueue();
    this.departures = new AsyncQueue();
    this.arrivals = new AsyncQueue();
    this.receipts = new AsyncQueue(); // receivers' receipts, unverified (receipt.js checks them)
    this.current = null;
    this.byPeer = new Map(); // one attempt per peer: a sender to several receivers (#15)
    this.spent = new Set();
    // the sender's signed `bye` "storage": it is storing the file for us (protocol.md §7)
    this.storing = false;
    this.storingNow = new Promise((resolve) => (this.onStoring = resolve));
    this.chain = Promise.resolve(); // verify in arrival order
    this.sending = Promise.resolve(); // and send in call order
    let refuse;
    this.refusal = new Promise((_, reject) => (refuse = reject));
    this.refusal.catch(() => {});
    this.refuse = refuse;
    this.refused = null;
    this.unlisten = relay.listen((msg) => {
      // a receipt is checked by the sender's session; a forged one refuses no connection
      if (msg.type === "signal" && msg.payload?.kind === "receipt") {
        if (this.role === "sender") this.receipts.put(msg);
      } else if (msg.type === "signal" && msg.role === this.role) {
        // another receiver's, from a relay older than protocol.md Revision 2.3 (it handed a
        // receiver's signal without `to` to every peer): not for us, and no attack
      } else if (msg.type === "signal") this.chain = this.chain.then(() => this.route(msg)).catch((e) => this.onRefused(e));
      else if (msg.type === "peer-left" || msg.type === "closed") this.departures.put(msg);
      else if (msg.type === "peer-joined") this.arrivals.put(msg);
      // the relay found nobody for a `ready` sent ahead (the sender joined right after it)
      else if (msg.type === "error" && msg.code === "no-peer" && this.ahead) this.aheadLost = true;
    });
  }

  onRefused(e) {
    if (!this.refused) {
      this.refused = e;
      this.refuse(e);
    }
  }

  attempt(peerId, peerNonce = "") {
    const earlier = this.byPeer.get(peerId);
    if (earlier) this.spent.add(earlier.nonce);
    if (this.ahead) this.spent.add(this.ahead.nonce);
    this.ahead = null;
    this.current = { peerId, nonce: newNonce(), peerNonce, inbox: new AsyncQueue() };
    this.byPeer.set(peerId, this.current);
    return this.current;
  }

  /** A receiver's first attempt, whose `ready` follows its `hello` at once, and so without
   *  `to` (protocol.md Revision 2.3): bound to the sender by `adopt`, or by the first
   *  verified reply to its nonce (the offer may come before the `welcome`). */
  attemptAhead() {
    this.ahead = { peerId: undefined, nonce: newNonce(), peerNonce: "", inbox: new AsyncQueue() };
    this.current = this.ahead;
    return this.ahead;
  }

  adopt(attempt, peerId) {
    if (this.ahead === attempt) this.ahead = null;
    if (!attempt.peerId) attempt.peerId = peerId;
    this.byPeer.set(attempt.peerId, attempt);
    return attempt;
  }

  /** Signals leave in the order they are sent: signing is asynchronous (Web Crypto), and an
   *  end-of-candidates overtaking the last candidate fails the other side's ICE. */
  send(attempt, kind, data = "") {
    const signed = signEnvelope(this.key, { kind, role: this.role, nonce: attempt.nonce, reply_to: attempt.peerNonce, data });
    const sent = this.sending.then(() => signed).then((payload) => this.relay.send({ action: "signal", to: attempt.peerId, payload }));
    this.sending = sent.catch(() => {});
    return sent;
  }

  async route(msg) {
    const m = await openEnvelope(this.key, msg.payload, this.peerRole);
    if (m.kind === "ready") {
      this.readies.put({ peerId: msg.from, nonce: m.nonce, who: m.data || "" }); // who: the receiver's name
      return;
    }
    if (m.kind === "bye") {
      // authentic (MAC) but tied to no attempt: at worst a replayed one makes a receiver
      // look in storage early, which it does anyway once the sender's grace has passed
      if (m.data === "storage" && this.role === "receiver") {
        this.storing = true;
        this.onStoring();
      }
      return;
    }
    let cur = this.byPeer.get(msg.from);
    if (!cur && this.ahead && m.reply_to === this.ahead.nonce) cur = this.adopt(this.ahead, msg.from); // before our welcome
    if (this.spent.has(m.reply_to)) return; // for an earlier attempt: stale, harmless
    if (!cur) return;
    if (m.reply_to !== cur.nonce) throw new SendError("refused", `A ${m.kind} from an earlier session was replayed; the connection was refused (possible interception).`, "replayed");
    if (cur.peerNonce && m.nonce !== cur.peerNonce) throw new SendError("refused", `A ${m.kind} came from another session of the peer; the connection was refused (possible interception).`, "replayed");
    cur.inbox.put(m);
  }

  /** Await `promise`, unless a signal is refused first, or `ms` pass (then `late`). */
  race(promise, ms = null, late = "The other side did not answer in time.") {
    const racers = [promise, this.refusal];
    if (ms !== null) racers.push(after(ms, new SendError("expired", late, "timeout")));
    return Promise.race(racers);
  }

  close() {
    this.unlisten();
  }
}

/** Wait in an attempt's inbox for a message of `kind` (others of no use are skipped). */
export async function receiveKind(attempt, kind) {
  for (;;) {
    const m = await attempt.inbox.get();
    if (m.kind === kind) {
      if (!attempt.peerNonce) attempt.peerNonce = m.nonce;
      return m;
    }
    if (m.kind === "candidate") attempt.early = (attempt.early || []).concat([m]);
  }
}
