// Settings every PostgreSQL session of the service starts with, given at connection time
// (the startup packet's options), so they cost no statement and no round trip.
//
// No parallel plans: every statement of this service reads a bounded range through an
// index, and starting parallel workers costs more than such a read. Measured with the
// payments summary over one day of 1,000,000 payments (bench `report`, docs/performance.md):
// the planner chose a parallel append of its two ~2 ms index scans, and starting the two
// workers made the statement 98 ms.
export const PG_SESSION_SETTINGS: Readonly<Record<string, string>> = {
  max_parallel_workers_per_gather: '0',
};

/** The settings as libpq's `options` (`-c name=value …`), for node-postgres. */
export const pgSessionOptions = (): string =>
  Object.entries(PG_SESSION_SETTINGS)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
