// Which driver errors mean "the database cannot be reached right now" (answered 503 with
// Retry-After) as opposed to a bug (500). Anything not listed here is treated as a bug.

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  // postgres.js (PG_DRIVER=postgres-js, src/db/postgres-js-driver.ts)
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
  'CONNECT_TIMEOUT',
]);

// PostgreSQL SQLSTATEs: connection exceptions (08), operator intervention (57P0x),
// too many connections, and the transient serialization/deadlock failures.
const PG_TRANSIENT = /^(08...|57P0[1-4]|53300|40001|40P01)$/;

const PG_CLIENT_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Query read timeout',
  'connection timeout',
];

// SQLite: the write lock is held elsewhere past busy_timeout, or the file cannot be used.
const SQLITE_TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|PROTOCOL)/;

export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || PG_TRANSIENT.test(code) || SQLITE_TRANSIENT.test(code)) {
      return true;
    }
  }
  const message = (error as { message?: unknown }).message;
  if (typeof message === 'string' && PG_CLIENT_MESSAGES.some((m) => message.includes(m))) {
    return true;
  }
  // AggregateError from a connect() that tried several addresses.
  if (error instanceof AggregateError) return error.errors.some(isDatabaseUnavailable);
  return false;
}
