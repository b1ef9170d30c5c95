import type { Migration } from 'kysely';
import * as m0001 from './0001_foundation.ts';
import * as m0002 from './0002_orders_methods_invoices_payments_events.ts';
import * as m0003 from './0003_idempotency.ts';
import * as m0004 from './0004_idempotency_response_encoding.ts';
import * as m0005 from './0005_auth_change_notifications.ts';
import * as m0006 from './0006_idempotency_claim.ts';
import * as m0007 from './0007_sparse_payment_indexes.ts';
import * as m0008 from './0008_auth_change_counter.ts';
import * as m0009 from './0009_payment_list_indexes.ts';
import * as m0010 from './0010_event_feed_position.ts';
import * as m0011 from './0011_webhooks.ts';
import * as m0012 from './0012_time_zone_and_completion_index.ts';
import * as m0013 from './0013_order_total_may_be_zero.ts';
import * as m0014 from './0014_webhook_fanout_lease.ts';

/** Every migration, in order. Names sort in the order they must run. */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_orders_methods_invoices_payments_events': m0002,
  '0003_idempotency': m0003,
  '0004_idempotency_response_encoding': m0004,
  '0005_auth_change_notifications': m0005,
  '0006_idempotency_claim': m0006,
  '0007_sparse_payment_indexes': m0007,
  '0008_auth_change_counter': m0008,
  '0009_payment_list_indexes': m0009,
  '0010_event_feed_position': m0010,
  '0011_webhooks': m0011,
  '0012_time_zone_and_completion_index': m0012,
  '0013_order_total_may_be_zero': m0013,
  '0014_webhook_fanout_lease': m0014,
};
