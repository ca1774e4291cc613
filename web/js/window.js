// The sender's flow-control window (protocol.md §8), as transfer_core/transport/window.py:
// a record is sent only while the bytes sent on this connection and not yet in one of the
// receiver's `have` acknowledgements stay within the window. A slow receiver so slows the
// sender down instead of piling records up in its memory, and a restarted receiver makes
// the sender send again at most one window. The window starts at FLOW_WINDOW_BYTES and
// grows on a long path, to at most FLOW_WINDOW_MAX_BYTES (WindowTuning; the same rule and
// numbers as window.py's, checked against it by tests/browser/test_web_flow_window.py;
// the path's round trip is the pipe's `leastRtt`, web/js/peer.js `measureRtt`).

export const FLOW_WINDOW_BYTES = 2 * 1024 * 1024;
export const FLOW_WINDOW_MAX_BYTES = 8 * 1024 * 1024;

/** Seconds: the least period a delivery rate is measured over (window.py's MIN_PERIOD). */
const MIN_PERIOD = 0.1;

/** Its start plus twice what the path holds: the delivery rate (bytes released over
 *  periods of at least the path's round trip and MIN_PERIOD) times the path's least
 *  round trip (the transport's own: the page reads its ICE candidate pair's); never
 *  less than it was, never more than `most`. */
export class WindowTuning {
  constructor(start = FLOW_WINDOW_BYTES, most = FLOW_WINDOW_MAX_BYTES) {
    this.start = start;
    this.limit = start;
    this.most = Math.max(start, most);
    this.periodStart = null;
    this.periodBytes = 0;
  }

  /** `size` bytes acknowledged at `now` (seconds); `pathRtt` in seconds, or null. */
  released(size, now, pathRtt) {
    if (this.periodStart === null || pathRtt === null) {
      this.periodStart = now; // what this `have` releases was sent before the period
      this.periodBytes = 0;
      return;
    }
    this.periodBytes += size;
    const elapsed = now - this.periodStart;
    if (elapsed < Math.max(pathRtt, MIN_PERIOD)) return;
    const wanted = this.start + Math.trunc((2 * this.periodBytes * pathRtt) / elapsed);
    this.limit = Math.max(this.limit, Math.min(this.most, wanted));
    this.periodStart = now;
    this.periodBytes = 0;
  }
}

function holds(ranges, index) {
  for (const [start, end] of ranges) {
    if (index < start) return false;
    if (index < end) return true;
  }
  return false;
}

export class SendWindow {
  constructor(limit = FLOW_WINDOW_BYTES, most = FLOW_WINDOW_MAX_BYTES, pathRtt = () => null,
              clock = () => performance.now() / 1000) {
    this.tuning = new WindowTuning(limit, most);
    this.pathRtt = pathRtt;
    this.clock = clock;
    this.outstanding = 0;
    this.inFlight = []; // [index, size] in sending order
    this.head = 0;
    this.waiter = null;
    this.closed = false;
  }

  get limit() {
    return this.tuning.limit;
  }

  sent(index, size) {
    this.inFlight.push([index, size]);
    this.outstanding += size;
  }

  /** The receiver's `have` ranges: release records from the front, in sending order. */
  acked(ranges) {
    let released = 0;
    while (this.head < this.inFlight.length && holds(ranges, this.inFlight[this.head][0])) {
      released += this.inFlight[this.head][1];
      this.head++;
    }
    if (released) {
      this.outstanding -= released;
      this.tuning.released(released, this.clock(), this.pathRtt());
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
