// Orders, payment methods, invoices, payments, per-organization counters and the event log.
// Every table is keyed by organization id first; money columns are integers of minor units.
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';

function withAudit<T extends string>(table: CreateTableBuilder<T>): CreateTableBuilder<T> {
  let t = table;
  for (const column of [
    'created_at',
    'created_via',
    'created_by',
    'updated_at',
    'updated_via',
    'updated_by',
  ]) {
    t = t.addColumn(column, 'text', (c) => c.notNull());
  }
  return t;
}

export async function up(db: Kysely<unknown>): Promise<void> {
  // Gap-free per-organization sequences (order numbers, invoice numbers). Incremented in
  // the same transaction as the row that takes the number, so a rollback leaves no gap.
  await db.schema
    .createTable('counters')
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('counters_pk', ['organization_id', 'name'])
    .execute();

  await withAudit(
    db.schema
      .createTable('orders')
      .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('number', 'bigint', (c) => c.notNull())
      .addColumn('status', 'text', (c) =>
        c.notNull().check(sql`status in ('open', 'closed', 'canceled')`),
      )
      .addColumn('total_minor', 'bigint', (c) => c.notNull().check(sql`total_minor > 0`))
      // Figures derived from payments, kept in the same transaction as every payment change.
      .addColumn('paid_minor', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('refunded_minor', 'bigint', (c) =>
        c
          .notNull()
          .defaultTo(0)
          .check(sql`refunded_minor >= 0`),
      )
      .addColumn('pending_minor', 'bigint', (c) =>
        c
          .notNull()
          .defaultTo(0)
          .check(sql`pending_minor >= 0`),
      )
      .addColumn('pending_refunds_minor', 'bigint', (c) =>
        c
          .notNull()
          .defaultTo(0)
          .check(sql`pending_refunds_minor >= 0`),
      )
      .addColumn('payment_count', 'integer', (c) =>
        c
          .notNull()
          .defaultTo(0)
          .check(sql`payment_count >= 0`),
      )
      .addColumn('customer_uid', 'text')
      .addColumn('external_ref', 'text')
      .addColumn('closed_at', 'text')
      .addColumn('canceled_at', 'text')
      .addPrimaryKeyConstraint('orders_pk', ['organization_id', 'id'])
      .addUniqueConstraint('orders_number_unique', ['organization_id', 'number'])
      .addUniqueConstraint('orders_external_ref_unique', ['organization_id', 'external_ref']),
  ).execute();
  await db.schema
    .createIndex('orders_by_created')
    .on('orders')
    .columns(['organization_id', 'created_at', 'id'])
    .execute();
  await db.schema
    .createIndex('orders_by_customer')
    .on('orders')
    .columns(['organization_id', 'customer_uid', 'created_at', 'id'])
    .execute();
  await db.schema
    .createIndex('orders_by_status')
    .on('orders')
    .columns(['organization_id', 'status', 'created_at', 'id'])
    .execute();

  await withAudit(
    db.schema
      .createTable('payment_methods')
      .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('code', 'text')
      .addColumn('name_ar', 'text', (c) => c.notNull())
      .addColumn('description_ar', 'text')
      .addColumn('name_en', 'text', (c) => c.notNull())
      .addColumn('description_en', 'text')
      .addColumn('visible', 'integer', (c) => c.notNull().check(sql`visible in (0, 1)`))
      .addPrimaryKeyConstraint('payment_methods_pk', ['organization_id', 'id'])
      .addUniqueConstraint('payment_methods_code_unique', ['organization_id', 'code']),
  ).execute();
  await db.schema
    .createIndex('payment_methods_by_created')
    .on('payment_methods')
    .columns(['organization_id', 'created_at', 'id'])
    .execute();

  await withAudit(
    db.schema
      .createTable('invoices')
      .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('order_id', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) =>
        c.notNull().check(sql`type in ('standard', 'credit-note', 'debit-note', 'prepayment')`),
      )
      .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('open', 'closed')`))
      .addColumn('reference_invoice_id', 'text')
      .addColumn('apply_expires_at', 'text')
      .addColumn('invoice_number', 'bigint')
      .addColumn('invoice_source', 'text')
      .addColumn('invoiced_at', 'text')
      // Deleted open invoices stay for audit and for payments that referenced them.
      .addColumn('deleted_at', 'text')
      .addPrimaryKeyConstraint('invoices_pk', ['organization_id', 'id'])
      .addUniqueConstraint('invoices_number_unique', ['organization_id', 'invoice_number'])
      .addForeignKeyConstraint('invoices_order_fk', ['organization_id', 'order_id'], 'orders', [
        'organization_id',
        'id',
      ])
      .addCheckConstraint(
        'invoices_closed_has_number',
        sql`(status = 'closed') = (invoice_number is not null)`,
      ),
  ).execute();
  await db.schema
    .createIndex('invoices_by_created')
    .on('invoices')
    .columns(['organization_id', 'created_at', 'id'])
    .execute();
  await db.schema
    .createIndex('invoices_by_order')
    .on('invoices')
    .columns(['organization_id', 'order_id', 'created_at', 'id'])
    .execute();

  await withAudit(
    db.schema
      .createTable('payments')
      .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('order_id', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull().check(sql`type in ('receipt', 'refund')`))
      .addColumn('status', 'text', (c) =>
        c.notNull().check(sql`status in ('pending', 'progress', 'complete', 'reversed')`),
      )
      .addColumn('amount_minor', 'bigint', (c) => c.notNull().check(sql`amount_minor > 0`))
      .addColumn('custom', 'integer', (c) => c.notNull().check(sql`custom in (0, 1)`))
      .addColumn('method_id', 'text')
      .addColumn('customer_uid', 'text')
      .addColumn('source_payment_id', 'text')
      .addColumn('transaction_ref', 'text')
      .addColumn('attrs', 'text', (c) => c.notNull().defaultTo('{}'))
      .addColumn('invoice_id', 'text')
      .addColumn('note', 'text')
      .addColumn('completed_at', 'text')
      .addColumn('reversed_at', 'text')
      // Soft delete (API.md §3.5): the row and its history stay for audit.
      .addColumn('deleted_at', 'text')
      // Receipts only, kept with every refund change so limits need no scan of history:
      // Σ complete refunds, Σ pending/progress/complete refunds, and how many of those.
      .addColumn('refunded_minor', 'bigint', (c) =>
        c
          .notNull()
          .defaultTo(0)
          .check(sql`refunded_minor >= 0`),
      )
      .addColumn('refunds_reserved_minor', 'bigint', (c) =>
        c
          .notNull()
          .defaultTo(0)
          .check(sql`refunds_reserved_minor >= 0`),
      )
      .addColumn('live_refunds', 'integer', (c) =>
        c
          .notNull()
          .defaultTo(0)
          .check(sql`live_refunds >= 0`),
      )
      .addPrimaryKeyConstraint('payments_pk', ['organization_id', 'id'])
      .addForeignKeyConstraint('payments_order_fk', ['organization_id', 'order_id'], 'orders', [
        'organization_id',
        'id',
      ])
      .addCheckConstraint(
        'payments_refund_source',
        sql`type = 'refund' or source_payment_id is null`,
      )
      .addCheckConstraint(
        'payments_refunds_within_amount',
        sql`refunds_reserved_minor <= amount_minor and refunded_minor <= refunds_reserved_minor`,
      ),
  ).execute();
  await db.schema
    .createIndex('payments_by_order')
    .on('payments')
    .columns(['organization_id', 'order_id', 'created_at', 'id'])
    .execute();
  await db.schema
    .createIndex('payments_by_created')
    .on('payments')
    .columns(['organization_id', 'created_at', 'id'])
    .execute();
  await db.schema
    .createIndex('payments_by_source')
    .on('payments')
    .columns(['organization_id', 'source_payment_id'])
    .execute();
  await db.schema
    .createIndex('payments_by_method')
    .on('payments')
    .columns(['organization_id', 'method_id'])
    .execute();
  await db.schema
    .createIndex('payments_by_invoice')
    .on('payments')
    .columns(['organization_id', 'invoice_id'])
    .execute();
  // API.md §6.3: transactionRef is unique per (organization, type) among non-deleted payments.
  await db.schema
    .createIndex('payments_transaction_ref_unique')
    .on('payments')
    .columns(['organization_id', 'type', 'transaction_ref'])
    .unique()
    .where(sql.ref('deleted_at'), 'is', null)
    .where(sql.ref('transaction_ref'), 'is not', null)
    .execute();

  // API.md §7: every change appends an event in the same transaction as the change.
  await db.schema
    .createTable('events')
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('entity_type', 'text', (c) => c.notNull())
    .addColumn('entity_id', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('changes', 'text')
    .addColumn('actor_by', 'text', (c) => c.notNull())
    .addColumn('actor_via', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('events_pk', ['organization_id', 'id'])
    .execute();
  await db.schema
    .createIndex('events_by_entity')
    .on('events')
    .columns(['organization_id', 'entity_id', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['events', 'payments', 'invoices', 'payment_methods', 'orders', 'counters']) {
    await db.schema.dropTable(table).execute();
  }
}
