// Gap-free per-organization sequences. The increment is a single upsert inside the caller's
// transaction: concurrent takers serialize on the counter row (PostgreSQL row lock, SQLite
// write lock), and a rolled-back transaction returns its number, so numbers have no gaps
// and no duplicates.
import { sql } from 'kysely';
import type { Tx } from './engine.ts';

export type CounterName = 'order_number' | 'invoice_number';

export async function nextValue(
  tx: Tx,
  organizationId: string,
  name: CounterName,
): Promise<number> {
  const result = await sql<{ value: number | string }>`
    insert into counters (organization_id, name, value) values (${organizationId}, ${name}, 1)
    on conflict (organization_id, name) do update set value = counters.value + 1
    returning value`.execute(tx);
  const value = Number(result.rows[0]!.value);
  if (!Number.isSafeInteger(value)) throw new Error('counter out of range');
  return value;
}
