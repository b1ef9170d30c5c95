// `/metrics` of a WORKERS>1 instance (src/cluster.ts): one answer for the whole instance.
// The workers share one port and the primary hands each connection to the next, so a scrape
// reaches any worker; were it to answer its own figures, Prometheus would see counters jump
// between workers' values (read as resets) and lose most of them. So a worker asks the
// primary, which gathers every worker's registry with prom-client's AggregatorRegistry
// (counters and histograms summed; gauges by each metric's `aggregator`) and answers it.
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

interface MetricsRequest {
  type: 'om:metrics-request';
  id: number;
}

interface MetricsAnswer {
  type: 'om:metrics-answer';
  id: number;
  text?: string;
  error?: string;
}

const isRequest = (m: unknown): m is MetricsRequest =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'om:metrics-request';
const isAnswer = (m: unknown): m is MetricsAnswer =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'om:metrics-answer';

/** Past prom-client's own 5 s for gathering the workers' figures. */
const ASK_TIMEOUT_MS = 6000;

/** True in a worker of a WORKERS>1 instance: its /metrics must ask the primary. */
export const inClusterWorker = (): boolean => cluster.isWorker && process.send !== undefined;

/**
 * In a worker: `registry` is what this worker gives the primary when it gathers (prom-client
 * answers its requests); answers the instance's figures, or throws when the primary does not
 * answer in time.
 */
export function instanceMetrics(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  // Constructed for its side effect: prom-client listens for the primary's requests.
  new AggregatorRegistry();
  let next = 0;
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const done = (error: Error | undefined, text?: string): void => {
        clearTimeout(timer);
        process.off('message', onMessage);
        if (error === undefined) resolve(text ?? '');
        else reject(error);
      };
      const onMessage = (message: unknown): void => {
        if (!isAnswer(message) || message.id !== id) return;
        done(message.error === undefined ? undefined : new Error(message.error), message.text);
      };
      const timer = setTimeout(
        () => done(new Error('the primary did not answer with the metrics')),
        ASK_TIMEOUT_MS,
      );
      process.on('message', onMessage);
      process.send!({ type: 'om:metrics-request', id } satisfies MetricsRequest);
    });
}

/** In the primary: answers the workers' requests with every worker's figures together. */
export function answerMetricsRequests(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isRequest(message)) return;
    const answer = (fields: Omit<MetricsAnswer, 'type' | 'id'>): void => {
      if (worker.isConnected()) {
        worker.send({
          type: 'om:metrics-answer',
          id: message.id,
          ...fields,
        } satisfies MetricsAnswer);
      }
    };
    aggregator.clusterMetrics().then(
      (text) => answer({ text }),
      (error: unknown) => answer({ error: (error as Error).message }),
    );
  });
}
