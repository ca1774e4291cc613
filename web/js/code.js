// Spoken codes over the relay (docs/protocol.md §11), the page's side; the CLI's is
// transfer_core/signalling/code_exchange.py. The sender opens a throw-away room, asks for a
// nameplate and shows the code; the receiver joins through the nameplate; the two run the
// CPace exchange of pake.js as opaque signals. The sender leaves the code's room once it is
// in the transfer's room, which is the receiver's cue to follow.

import { randomBytes, hex } from "./bytes.js";
import { SendError } from "./protocol.js";
import { ABORT, CodeHandshake, codeText, generateCode } from "./pake.js";
import { AsyncQueue, Relay, after, newToken } from "./signalling.js";

const EXCHANGE_MS = 120_000;

function inbox(relay) {
  const queue = new AsyncQueue();
  const unlisten = relay.listen((m) => queue.put(m));
  return { queue, unlisten };
}

async function nextSignal(queue, fromRole, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new SendError("expired", "The other side did not answer the code exchange in time.");
    // only at the deadline does the timer win, and then the exchange is over
    const m = await Promise.race([queue.get(), after(left).then(() => null)]);
    if (m === null) continue;
    if (m.type === "signal" && m.role === fromRole) return m.payload;
    if (m.type === "peer-left" && m.peer?.role === fromRole) return { left: true };
    if (m.type === "closed") throw new SendError("network", "The connection to the signalling server closed during the code exchange.");
  }
}

// A side that found the code wrong tells the other, then waits this long at most for it
// to leave (or answer) first: a relay may run our leaving before our last signal (API
// Gateway runs each message's Lambda on its own), and the other side would see us leave,
// not why. transfer_core/signalling/code_exchange.py does the same.
const ABORT_GRACE_MS = 2_000;

async function abort(relay, queue, otherRole) {
  relay.send({ action: "signal", payload: ABORT });
  try {
    await nextSignal(queue, otherRole, ABORT_GRACE_MS);
  } catch {
    // its time is up, or the relay closed: we leave either way
  }
}

function requireServer(settings) {
  if (!settings.server) throw new SendError("network", "No signalling server is configured: add ?server=wss://… to the page address.");
}

/** Sender: get a nameplate, `show(codeText, expiresAt)`, run the exchange. */
export async function offerCode(settings, show) {
  requireServer(settings);
  // a room of its own, whose key nobody else learns: the nameplate admits the receiver
  const relay = await Relay.connect(settings.server, randomBytes(32), "sender", newToken());
  const { queue, unlisten } = inbox(relay);
  try {
    await relay.request("hello");
    const reply = await relay.request("nameplate");
    const code = generateCode(reply.nameplate);
    show(codeText(code), reply.expiresAt);
    const handshake = new CodeHandshake("sender", code);
    const first = await nextSignal(queue, "receiver", Math.max(1000, reply.expiresAt * 1000 - Date.now()));
    if (first.left) throw new SendError("expired", "The receiver left during the code exchange.");
    try {
      relay.send({ action: "signal", payload: await handshake.answer(first) });
      const confirm = await nextSignal(queue, "receiver", EXCHANGE_MS);
      if (confirm.left) throw new SendError("expired", "The receiver left during the code exchange.");
      await handshake.verify(confirm);
    } catch (e) {
      if (e.code === "wrong-code") await abort(relay, queue, "receiver");
      throw e;
    }
    unlisten();
    return { secret: handshake.secret, release: () => relay.close() };
  } catch (e) {
    unlisten();
    relay.close();
    throw e;
  }
}

/** Receiver: join through the nameplate, run the exchange; the secret once the sender moved on. */
export async function useCode(settings, code) {
  requireServer(settings);
  let relay;
  try {
    relay = await Relay.connectNameplate(settings.server, code.nameplate, newToken());
  } catch {
    throw new SendError("bad-link", `No sender is waiting on code number ${code.nameplate}: it was used already, has expired, or was mistyped. Ask the sender for a new code.`, "unknown-code");
  }
  const { queue, unlisten } = inbox(relay);
  try {
    const welcome = await relay.request("hello");
    if (!(welcome.peers || []).some((p) => p.role === "sender")) throw new SendError("expired", "The sender of this code has left.");
    const handshake = new CodeHandshake("receiver", code);
    relay.send({ action: "signal", payload: handshake.start() });
    const answer = await nextSignal(queue, "sender", EXCHANGE_MS);
    if (answer.left) throw new SendError("expired", "The sender left during the code exchange.");
    let confirm;
    try {
      confirm = await handshake.finish(answer);
    } catch (e) {
      if (e.code === "wrong-code") await abort(relay, queue, "sender");
      throw e;
    }
    relay.send({ action: "signal", payload: confirm });
    const next = await nextSignal(queue, "sender", EXCHANGE_MS);
    if (!next.left) throw new SendError("verification", "The sender did not accept our confirmation: the code is wrong.", "wrong-code");
    return handshake.secret;
  } finally {
    unlisten();
    relay.close();
  }
}
