// The sender's flow-control window (protocol.md §8), as transfer_core/transport/window.py:
// a record is sent only while the bytes sent on this connection and not yet in one of the
// receiver's `have` acknowledgements stay within the window. A slow receiver so slows the
// sender down instead of piling records up in its memory, and a restarted receiver makes
// the sender send again at most one window.

export const FLOW_WINDOW_BYTES = 2 * 1024 * 1024;

function holds(ranges, index) {
  for (const [start, end] of ranges) {
    if (index < start) return false;
    if (index < end) return true;
  }
  return false;
}

export class SendWindow {
  constructor(limit = FLOW_WINDOW_BYTES) {
    this.limit = limit;
    this.outstanding = 0;
    this.inFlight = []; // [index, size] in sending order
    this.head = 0;
    this.waiter = null;
    this.closed = false;
  }

  sent(index, size) {
    this.inFlight.push([index, size]);
    this.outstanding += size;
  }

  /** The receiver's `have` ranges: release records from the front, in sending order. */
  acked(ranges) {
    while (this.head < this.inFlight.length && holds(ranges, this.inFlight[this.head][0])) {
      this.outstanding -= this.inFlight[this.head][1];
      this.head++;
    }
    if (this.head > 1024) {
      this.inFlight = this.inFlight.slice(this.head);
      this.head = 0;
    }
    this.wake();
  }

  /** No more acknowledgements will come: never leave the sender waiting. */
  close() {
    this.closed = true;
    this.wake();
  }

  wake() {
    const w = this.waiter;
    this.waiter = null;
    if (w) w();
  }

  hasRoom(size) {
    return this.closed || this.outstanding === 0 || this.outstanding + size <= this.limit;
  }

  async roomFor(size) {
    while (!this.hasRoom(size)) await new Promise((resolve) => (this.waiter = resolve));
  }
}
