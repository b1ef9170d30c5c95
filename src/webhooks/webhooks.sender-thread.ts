// The thread webhook attempts run on (webhooks.sender.ts says why): it makes the attempts it
// is given with its own connection pools and answers their outcomes, a batch per turn.
import { parentPort } from 'node:worker_threads';
import type { AttemptOutcome } from './webhooks.delivery.ts';
import { Agents, attempt } from './webhooks.delivery.ts';
import type { FromSender, ToSender } from './webhooks.sender.ts';

const port = parentPort!;
const agents = new Agents();
const inFlight = new Set<Promise<void>>();
let answered: { id: number; outcome: AttemptOutcome }[] = [];

const flush = () => {
  const outcomes = answered;
  answered = [];
  if (outcomes.length > 0) port.postMessage({ kind: 'outcomes', outcomes } satisfies FromSender);
};

port.on('message', (m: ToSender) => {
  if (m.kind === 'close') {
    // Every attempt in flight ends now, answered as aborted.
    void agents
      .close()
      .then(() => Promise.all(inFlight))
      .finally(() => {
        flush();
        port.close();
      });
    return;
  }
  for (const { id, attempt: a } of m.attempts) {
    const done = attempt(a, agents).then((outcome) => {
      inFlight.delete(done);
      if (answered.length === 0) setImmediate(flush);
      answered.push({ id, outcome });
    });
    inFlight.add(done);
  }
});
