// A webhook receiver on 127.0.0.1 for tests of delivery: it counts arrivals per path and
// leaves the answer to the test (`answer` gets each request once its body is read).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import assert from 'node:assert/strict';

export interface TestReceiver {
  /** `http://127.0.0.1:<port>`: endpoints use `${base}/<path>`. */
  base: string;
  /** Requests that arrived, per path. */
  arrivals: Map<string, number>;
  close(): Promise<void>;
}

export async function startReceiver(
  answer: (path: string, res: http.ServerResponse) => void,
): Promise<TestReceiver> {
  const arrivals = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const path = req.url ?? '';
    req.resume();
    req.on('end', () => {
      arrivals.set(path, (arrivals.get(path) ?? 0) + 1);
      answer(path, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Reads `get` every 25 ms until `ok`; fails naming `what` and the last value after `ms`. */
export async function until<T>(
  what: string,
  get: () => Promise<T> | T,
  ok: (x: T) => boolean,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const x = await get();
    if (ok(x)) return x;
    if (Date.now() > deadline)
      assert.fail(`${what}: not within ${ms} ms (last: ${JSON.stringify(x)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
