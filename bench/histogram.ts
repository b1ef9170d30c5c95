// Latency percentiles for the ceiling loops, with the HdrHistogram autocannon itself uses,
// so service and ceiling figures are computed the same way.
import * as hdr from 'hdr-histogram-js';

export class Histogram {
  readonly #h = hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  /** Records one latency given in milliseconds (kept in microseconds). */
  record(ms: number): void {
    this.#h.recordValue(Math.max(1, Math.round(ms * 1000)));
  }
  summaryMs(): { p50Ms: number; p99Ms: number; p999Ms: number } {
    const at = (p: number) => this.#h.getValueAtPercentile(p) / 1000;
    return { p50Ms: at(50), p99Ms: at(99), p999Ms: at(99.9) };
  }
}
