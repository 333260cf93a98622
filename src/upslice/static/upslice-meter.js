// upslice browser client: upload speed over a sliding window.

const SPEED_WINDOW_MS = 5000;

/** Throughput of the bytes this session put on the wire; falls towards 0 when nothing moves. */
export class Meter {
  constructor() {
    this.reset();
  }

  reset() {
    this.samples = []; // [time, bytes sent so far], the first one older than the window
    this.sent = 0;
  }

  add(bytes) {
    const now = performance.now();
    if (!this.samples.length) this.samples.push([now, 0]);
    this.sent += bytes;
    this.samples.push([now, this.sent]);
    while (this.samples.length > 2 && now - this.samples[1][0] > SPEED_WINDOW_MS) this.samples.shift();
  }

  /** Bytes/s since the oldest sample kept: it keeps falling while nothing is added, 0 after the window. */
  get speed() {
    if (this.samples.length < 2) return 0;
    const now = performance.now();
    if (now - this.samples[this.samples.length - 1][0] > SPEED_WINDOW_MS) return 0;
    const [t0, b0] = this.samples[0];
    return now - t0 < 250 ? 0 : ((this.sent - b0) * 1000) / (now - t0);
  }
}
