// Shipped migrations are never edited (DESIGN habit 11): add a new numbered file instead.
// Types are chosen to mean the same on SQLite and PostgreSQL: text ids and ISO timestamps,
// bigint for integers that may grow (INTEGER affinity on SQLite, int8 on PostgreSQL).
import { sql, type Kysely } from 'kysely';

const audit = [
  'created_at',
  'created_via',
  'created_by',
  'updated_at',
  'updated_via',
  'updated_by',
];

export async function up(db: Kysely<unknown>): Promise<void> {
  let organizations = db.schema
    .createTable('organizations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull().check(sql`length(currency) = 3`))
    .addColumn('currency_exponent', 'integer', (c) =>
      c.notNull().check(sql`currency_exponent between 0 and 4`),
    )
    .addColumn('max_payments_per_order', 'integer', (c) =>
      c
        .notNull()
        .defaultTo(100)
        .check(sql`max_payments_per_order between 1 and 10000`),
    );
  for (const column of audit)
    organizations = organizations.addColumn(column, 'text', (c) => c.notNull());
  await organizations.execute();

  let apiKeys = db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('principal', 'text', (c) => c.notNull())
    .addColumn('via', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) =>
      c.notNull().check(sql`role in ('viewer', 'cashier', 'manager', 'admin')`),
    )
    .addColumn('all_organizations', 'integer', (c) =>
      c.notNull().check(sql`all_organizations in (0, 1)`),
    )
    .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
    .addColumn('secret_prefix', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'text');
  for (const column of audit) apiKeys = apiKeys.addColumn(column, 'text', (c) => c.notNull());
  await apiKeys.execute();

  await db.schema
    .createTable('api_key_organizations')
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('api_key_id', 'text', (c) => c.notNull().references('api_keys.id'))
    .addPrimaryKeyConstraint('api_key_organizations_pk', ['organization_id', 'api_key_id'])
    .execute();
  await db.schema
    .createIndex('api_key_organizations_by_key')
    .on('api_key_organizations')
    .columns(['api_key_id', 'organization_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('api_key_organizations').execute();
  await db.schema.dropTable('api_keys').execute();
  await db.schema.dropTable('organizations').execute();
}
