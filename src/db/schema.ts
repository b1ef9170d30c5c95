// Row types of the tables, as Kysely sees them. Columns are snake_case; money columns are
// integers of minor units and say so (`_minor`); timestamps are ISO-8601 UTC text with
// milliseconds on both engines, so they sort and compare the same everywhere.
import type { Generated } from 'kysely';

export const ROLES = ['viewer', 'cashier', 'manager', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Audit {
  created_at: string;
  created_via: string;
  created_by: string;
  updated_at: string;
  updated_via: string;
  updated_by: string;
}

export interface OrganizationsTable extends Audit {
  id: string;
  name: string;
  currency: string;
  /**
   * Minor-unit exponent, fixed when the organization is created (from Intl at that time), so
   * a later ICU/CLDR update can never rescale amounts already stored.
   */
  currency_exponent: number;
  max_payments_per_order: Generated<number>;
  /** IANA name; the payments summary cuts days at midnight in it (API.md §3.1, §8). */
  time_zone: Generated<string>;
}

export interface ApiKeysTable extends Audit {
  id: string;
  name: string;
  principal: string;
  via: string;
  role: Role;
  /** 1: may act on every organization, present and future; 0: only those listed. */
  all_organizations: number;
  /** SHA-256 of the secret, hex. The secret itself is never stored. */
  secret_hash: string;
  /** The first characters of the secret, to tell keys apart in listings. */
  secret_prefix: string;
  revoked_at: string | null;
}

export interface ApiKeyOrganizationsTable {
  organization_id: string;
  api_key_id: string;
}

export interface CountersTable {
  organization_id: string;
  name: string;
  value: number;
}

export const ORDER_STATUSES = ['open', 'closed', 'canceled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface OrdersTable extends Audit {
  organization_id: string;
  id: string;
  number: number;
  status: OrderStatus;
  total_minor: number;
  /** Σ complete receipts − Σ complete refunds. */
  paid_minor: Generated<number>;
  /** Σ complete refunds. */
  refunded_minor: Generated<number>;
  /** Σ pending/progress receipts. */
  pending_minor: Generated<number>;
  /** Σ pending/progress refunds. */
  pending_refunds_minor: Generated<number>;
  /** Non-deleted payments on the order (for maxPaymentsPerOrder). */
  payment_count: Generated<number>;
  customer_uid: string | null;
  external_ref: string | null;
  closed_at: string | null;
  canceled_at: string | null;
}

export interface PaymentMethodsTable extends Audit {
  organization_id: string;
  id: string;
  code: string | null;
  name_ar: string;
  description_ar: string | null;
  name_en: string;
  description_en: string | null;
  visible: number;
}

export const INVOICE_TYPES = ['standard', 'credit-note', 'debit-note', 'prepayment'] as const;
export type InvoiceType = (typeof INVOICE_TYPES)[number];
export type InvoiceStatus = 'open' | 'closed';

export interface InvoicesTable extends Audit {
  organization_id: string;
  id: string;
  order_id: string;
  type: InvoiceType;
  status: InvoiceStatus;
  reference_invoice_id: string | null;
  apply_expires_at: string | null;
  invoice_number: number | null;
  invoice_source: string | null;
  invoiced_at: string | null;
  deleted_at: string | null;
}

export const PAYMENT_TYPES = ['receipt', 'refund'] as const;
export type PaymentType = (typeof PAYMENT_TYPES)[number];
export const PAYMENT_STATUSES = ['pending', 'progress', 'complete', 'reversed'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export interface PaymentsTable extends Audit {
  organization_id: string;
  id: string;
  order_id: string;
  type: PaymentType;
  status: PaymentStatus;
  amount_minor: number;
  custom: number;
  method_id: string | null;
  customer_uid: string | null;
  source_payment_id: string | null;
  transaction_ref: string | null;
  /** JSON object. */
  attrs: Generated<string>;
  invoice_id: string | null;
  note: string | null;
  completed_at: string | null;
  reversed_at: string | null;
  deleted_at: string | null;
  /** Receipts: Σ complete refunds. */
  refunded_minor: Generated<number>;
  /** Receipts: Σ pending/progress/complete refunds (what new refunds may not take). */
  refunds_reserved_minor: Generated<number>;
  /** Receipts: number of pending/progress/complete refunds. */
  live_refunds: Generated<number>;
}

export interface EventsTable {
  organization_id: string;
  id: string;
  type: string;
  entity_type: string;
  entity_id: string;
  /** JSON: the object after the change. */
  data: string;
  /** JSON: {field: {before, after}} of the changed fields, or null for creations. */
  changes: string | null;
  actor_by: string;
  actor_via: string;
  request_id: string;
  created_at: string;
  /** Feed order (migration 0010): PostgreSQL the writing transaction's id (xid8, as text); SQLite 0. */
  xact: Generated<string>;
  seq: Generated<number>;
}

export interface WebhookEndpointsTable extends Audit {
  organization_id: string;
  id: string;
  url: string;
  /** JSON array of types and `prefix.*` patterns, or null for every event. */
  events: string | null;
  description: string | null;
  enabled: number;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: string | null;
  failing_since: string | null;
}

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface WebhookDeliveriesTable {
  organization_id: string;
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  /** JSON: the event of a `webhook.test` delivery (not in the feed); null for feed events. */
  payload: string | null;
  status: DeliveryStatus;
  attempts: Generated<number>;
  last_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
}

export interface WebhookFanoutTable {
  organization_id: string;
  xact: string;
  seq: number;
  /** Until when a worker attempts the batch after the position (migration 0014); or null. */
  lease_until: string | null;
}

/** One row: a count every change to keys, their organizations or organizations moves. */
export interface AuthChangesTable {
  id: number;
  version: number;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  fingerprint: string;
  status_code: number;
  /** The JSON body answered the first time, encoded as `response_encoding` says. */
  response: string;
  /** `identity` (the body as is) or `br` (Brotli, base64): migration 0004. */
  response_encoding: Generated<'identity' | 'br'>;
  created_at: string;
}

export interface DB {
  organizations: OrganizationsTable;
  api_keys: ApiKeysTable;
  api_key_organizations: ApiKeyOrganizationsTable;
  counters: CountersTable;
  orders: OrdersTable;
  payment_methods: PaymentMethodsTable;
  invoices: InvoicesTable;
  payments: PaymentsTable;
  events: EventsTable;
  idempotency_keys: IdempotencyKeysTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_fanout: WebhookFanoutTable;
  /** SQLite only (migration 0008). */
  auth_changes: AuthChangesTable;
}
