// The command-line tool, run as an operator runs it: `node bin/om-payments.js …` in a child
// process against the engine under test. Every `--json` output is exactly one JSON object on
// one line of stdout; every failure is a non-zero exit with the reason on stderr.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { MIGRATIONS } from '../src/db/migrations/index.ts';
import { newId } from '../src/shared/ids.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import {
  parseJsonLine,
  runCli,
  startServe,
  stopAllServed,
  type CliResult,
  type ServedProcess,
} from './support/cli.ts';

const MIGRATION_NAMES = Object.keys(MIGRATIONS).sort();
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** A failed command: non-zero exit, nothing on stdout, exactly one non-empty line on stderr. */
function assertOneLineFailure(result: CliResult, what: string): string {
  assert.notEqual(result.code, 0, `${what}: exit code`);
  assert.notEqual(result.code, null, `${what}: ended by itself (not killed by the timeout)`);
  assert.equal(result.stdout, '', `${what}: nothing on stdout`);
  assert.match(result.stderr, /^[^\n]*\S[^\n]*\n$/, `${what}: one line on stderr`);
  return result.stderr;
}

async function listOrganizations(db: TestDatabase): Promise<any[]> {
  const out = parseJsonLine(await runCli(db, ['org', 'list', '--json']));
  assert.ok(Array.isArray(out.items), 'org list --json has items');
  return out.items;
}

async function listKeys(db: TestDatabase): Promise<any[]> {
  const out = parseJsonLine(await runCli(db, ['key', 'list', '--json']));
  assert.ok(Array.isArray(out.items), 'key list --json has items');
  return out.items;
}

async function createOrg(db: TestDatabase, name: string, currency = 'SAR'): Promise<any> {
  return parseJsonLine(
    await runCli(db, ['org', 'create', '--name', name, '--currency', currency, '--json']),
  );
}

async function createKey(db: TestDatabase, org: string, role = 'cashier'): Promise<any> {
  return parseJsonLine(
    await runCli(db, ['key', 'create', '--org', org, '--role', role, '--name', 'k', '--json']),
  );
}

/** Every string anywhere inside a JSON value, keys included. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => [k, ...strings(v)]);
  }
  return [];
}

after(stopAllServed);

void describe('migrate --json', () => {
  void test('applies every migration once, then reports nothing to apply', async () => {
    const db = await createTestDatabase();
    try {
      const first = parseJsonLine(await runCli(db, ['migrate', '--json']));
      assert.deepEqual(Object.keys(first), ['applied']);
      assert.ok(first.applied.includes('0001_foundation'));
      assert.deepEqual([...first.applied].sort(), MIGRATION_NAMES);
      const second = parseJsonLine(await runCli(db, ['migrate', '--json']));
      assert.deepEqual(second, { applied: [] });
    } finally {
      await db.drop();
    }
  });
});

void describe('organizations and api keys', () => {
  let db: TestDatabase;
  /** An organization made by the CLI, shared by the key tests. */
  let shop: any;
  before(async () => {
    db = await createTestDatabase();
    shop = await createOrg(db, 'Shop');
  });
  after(async () => {
    await db.drop();
  });

  void test('org create --json prints the stored organization', async () => {
    const org = await createOrg(db, 'Kuwait shop', 'KWD');
    assert.equal(typeof org.id, 'string');
    assert.ok(org.id.length > 0);
    assert.equal(org.name, 'Kuwait shop');
    assert.equal(org.currency, 'KWD');
    assert.equal(org.currencyExponent, 3);
    assert.deepEqual(org.settings, { maxPaymentsPerOrder: 100, timeZone: 'Asia/Riyadh' });
    assert.equal(org.createdVia, 'cli');
    assert.equal(org.updatedVia, 'cli');
    assert.match(org.createdBy, /^cli:./);
    assert.equal(org.updatedBy, org.createdBy);
    assert.match(org.createdAt, ISO);
    assert.equal(org.updatedAt, org.createdAt);
    // What was printed is what was stored.
    const listed = (await listOrganizations(db)).find((o) => o.id === org.id);
    assert.deepEqual(listed, org);
  });

  void test('org create --max-payments-per-order and --time-zone are stored', async () => {
    const org = parseJsonLine(
      await runCli(db, [
        'org',
        'create',
        '--name',
        'Tokyo',
        '--currency',
        'JPY',
        '--max-payments-per-order',
        '5',
        '--time-zone',
        'Europe/Berlin',
        '--json',
      ]),
    );
    assert.deepEqual(org.settings, { maxPaymentsPerOrder: 5, timeZone: 'Europe/Berlin' });
    assert.equal(org.currencyExponent, 0);
    const listed = (await listOrganizations(db)).find((o) => o.id === org.id);
    assert.deepEqual(listed?.settings, { maxPaymentsPerOrder: 5, timeZone: 'Europe/Berlin' });
  });

  void test('org create with a bad currency or no --name fails in one line and creates nothing', async () => {
    const before = await listOrganizations(db);
    const [xyz, lower, noName] = await Promise.all([
      runCli(db, ['org', 'create', '--name', 'Bad', '--currency', 'XYZ', '--json']),
      runCli(db, ['org', 'create', '--name', 'Bad', '--currency', 'sar', '--json']),
      runCli(db, ['org', 'create', '--currency', 'SAR', '--json']),
    ]);
    for (const [what, result] of [
      ['XYZ', xyz],
      ['sar', lower],
    ] as const) {
      const stderr = assertOneLineFailure(result, what);
      assert.match(stderr, /InvalidParameter/, what);
      assert.match(stderr, /currency/, what);
    }
    assert.notEqual(noName.code, 0);
    assert.notEqual(noName.code, null);
    assert.equal(noName.stdout, '');
    assert.match(noName.stderr.split('\n')[0]!, /--name/);
    assert.deepEqual(await listOrganizations(db), before, 'nothing was created');
    // Last, so the checks above are reported even while this one fails.
    assert.match(assertOneLineFailure(noName, 'missing --name'), /--name/);
  });

  void test('key create --json prints the key and its secret', async () => {
    const key = parseJsonLine(
      await runCli(db, [
        'key',
        'create',
        '--org',
        shop.id,
        '--role',
        'cashier',
        '--name',
        'till 1',
        '--principal',
        'p1',
        '--via',
        'pos',
        '--json',
      ]),
    );
    assert.equal(typeof key.id, 'string');
    assert.match(key.secret, /^omk_[A-Za-z0-9_-]{20,}$/);
    assert.equal(key.name, 'till 1');
    assert.equal(key.role, 'cashier');
    assert.deepEqual(key.organizations, [shop.id]);
    assert.equal(key.principal, 'p1');
    assert.equal(key.via, 'pos');
    assert.equal(key.revokedAt, null);
    assert.equal(key.createdVia, 'cli');
    assert.match(key.createdAt, ISO);
    assert.ok(key.secret.startsWith(key.secretPrefix), 'secretPrefix is a prefix of the secret');
    assert.ok(key.secretPrefix.length < key.secret.length);
    const hash = createHash('sha256').update(key.secret).digest('hex');
    assert.deepEqual(
      strings(key).filter((s) => s.includes(hash)),
      [],
      'the hash is not printed',
    );
    const stored = { ...key };
    delete stored.secret;
    assert.deepEqual(
      (await listKeys(db)).find((k) => k.id === key.id),
      stored,
    );
  });

  void test('key create --org all reaches every organization', async () => {
    const key = await createKey(db, 'all', 'admin');
    assert.equal(key.organizations, 'all');
    assert.equal(key.role, 'admin');
    assert.match(key.secret, /^omk_/);
    const listed = (await listKeys(db)).find((k) => k.id === key.id);
    assert.equal(listed?.organizations, 'all');
  });

  void test('key create with an unknown organization or a bad role fails and creates nothing', async () => {
    const before = await listKeys(db);
    const create = (org: string, role: string): Promise<CliResult> =>
      runCli(db, ['key', 'create', '--org', org, '--role', role, '--name', 'x', '--json']);
    const [unknownOrg, oneUnknown, badRole] = await Promise.all([
      create(newId(), 'admin'),
      // One unknown organization in the list fails the whole key.
      create(`${shop.id},${newId()}`, 'admin'),
      create(shop.id, 'boss'),
    ]);
    assert.match(assertOneLineFailure(unknownOrg, 'unknown org'), /InvalidParameter.*organization/);
    assert.match(
      assertOneLineFailure(oneUnknown, 'one unknown org'),
      /InvalidParameter.*organization/,
    );
    assert.notEqual(badRole.code, 0);
    assert.notEqual(badRole.code, null);
    assert.equal(badRole.stdout, '');
    assert.match(badRole.stderr, /boss/);
    assert.deepEqual(await listKeys(db), before, 'nothing was created');
  });

  void test('key list --json shows no secret and no hash', async () => {
    const made = await Promise.all([createKey(db, shop.id), createKey(db, 'all', 'viewer')]);
    const result = await runCli(db, ['key', 'list', '--json']);
    const items: any[] = parseJsonLine(result).items;
    assert.ok(Array.isArray(items));
    for (const key of made) {
      const listed: unknown = items.find((k) => k.id === key.id);
      const { secret, ...withoutSecret } = key;
      assert.deepEqual(listed, withoutSecret, 'listed as created, minus the secret');
      const hash = createHash('sha256').update(secret).digest('hex');
      assert.equal(result.stdout.includes(secret), false, 'the secret is not printed');
      assert.equal(result.stdout.includes(hash), false, 'its hash is not printed');
    }
    for (const listed of items) {
      assert.equal('secret' in listed, false);
      assert.deepEqual(
        Object.keys(listed).filter((k) => /hash/i.test(k)),
        [],
      );
      for (const key of made) {
        assert.deepEqual(
          strings(listed).filter((s) => s.includes(key.secret)),
          [],
        );
      }
    }
  });

  void test('key revoke --json revokes once; again is a no-op; an unknown id is NOT_FOUND', async () => {
    const key = await createKey(db, shop.id);
    const first = parseJsonLine(await runCli(db, ['key', 'revoke', key.id, '--json']));
    assert.equal(first.id, key.id);
    assert.match(first.revokedAt, ISO);
    assert.equal(first.updatedAt, first.revokedAt);
    assert.equal(first.updatedVia, 'cli');
    assert.equal('secret' in first, false);

    const again = parseJsonLine(await runCli(db, ['key', 'revoke', key.id, '--json']));
    assert.equal(again.revokedAt, first.revokedAt, 'the first revocation time is kept');
    assert.deepEqual(again, first);

    const [keys, unknown] = await Promise.all([
      listKeys(db),
      runCli(db, ['key', 'revoke', newId(), '--json']),
    ]);
    assert.equal(keys.find((k) => k.id === key.id)?.revokedAt, first.revokedAt);
    assert.match(assertOneLineFailure(unknown, 'unknown key'), /NOT_FOUND/);
  });

  void test('a key made by the CLI works against the HTTP API until it is revoked', async () => {
    const [org, other] = await Promise.all([
      createOrg(db, 'Served', 'KWD'),
      createOrg(db, 'Elsewhere'),
    ]);
    const key = await createKey(db, org.id);
    const served = await startServe(db, { OM_BOOTSTRAP: '0' });
    try {
      const get = (organizationId: string): Promise<Response> =>
        fetch(`${served.url}/v1/om/organization`, {
          headers: { 'api-key': key.secret, 'organization-id': organizationId },
          signal: AbortSignal.timeout(5000),
        });
      const ok = await get(org.id);
      assert.equal(ok.status, 200);
      const body: any = await ok.json();
      assert.equal(body.data.organization.id, org.id);
      assert.equal(body.data.organization.currency, 'KWD');
      // The key is confined to its organization.
      const elsewhere = await get(other.id);
      assert.equal(elsewhere.status, 403);
      await elsewhere.body?.cancel();

      parseJsonLine(await runCli(db, ['key', 'revoke', key.id, '--json']));
      const revoked = await get(org.id);
      assert.equal(revoked.status, 401);
      await revoked.body?.cancel();

      assert.equal(served.stdout().includes('omk_'), false, 'OM_BOOTSTRAP=0 prints no secret');
      assert.equal(await served.stop(), 0, 'SIGTERM stops the server cleanly');
    } finally {
      await served.stop();
    }
  });
});

void describe('serve', () => {
  void test('the first start of an empty database prints a working admin key, once', async () => {
    const db = await createTestDatabase();
    let served: ServedProcess | undefined;
    try {
      // Logs on, to check the secret stays out of them.
      served = await startServe(db, { LOG_LEVEL: 'info' });
      const deadline = Date.now() + 5000;
      while (!served.stdout().includes('organization-id:') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const printed = served.stdout();
      const secret = /\bomk_[A-Za-z0-9_-]+/.exec(printed)?.[0];
      const organizationId = /organization-id: ([^'\s]+)/.exec(printed)?.[1];
      assert.ok(secret, `a secret is printed: ${printed}`);
      assert.ok(organizationId, 'an organization id is printed');
      assert.ok(printed.includes(`Created organization`), 'says what it created');
      assert.ok(printed.includes(organizationId));
      assert.ok(printed.includes(`curl -s ${served.url}/v1/om/organization`), 'a curl example');
      assert.ok(printed.includes(`-H 'api-key: ${secret}'`));
      assert.ok(printed.includes(`-H 'organization-id: ${organizationId}'`));

      const call = (): Promise<Response> =>
        fetch(`${served!.url}/v1/om/organization`, {
          headers: { 'api-key': secret, 'organization-id': organizationId },
          signal: AbortSignal.timeout(5000),
        });
      const response = await call();
      assert.equal(response.status, 200);
      const body: any = await response.json();
      assert.equal(body.data.organization.id, organizationId);
      assert.equal(body.data.organization.currency, 'SAR');

      // The secret appears in the operator's message only, never in a structured log line.
      for (const line of served.stdout().split('\n')) {
        if (line.startsWith('{')) assert.equal(line.includes(secret), false, line);
      }
      assert.equal(served.stderr().includes(secret), false);
      assert.equal(await served.stop(), 0);

      served = await startServe(db);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(served.stdout().includes('omk_'), false, 'no new secret on restart');
      assert.equal(served.stdout().includes('first start'), false);
      const again = await call();
      assert.equal(again.status, 200, 'the first secret still works');
      await again.body?.cancel();
      assert.equal(await served.stop(), 0);

      assert.equal((await listOrganizations(db)).length, 1);
      assert.equal((await listKeys(db)).length, 1);
    } finally {
      await served?.stop();
      await db.drop();
    }
  });

  void test('bad configuration stops the process with a one-line reason', async () => {
    const db = await createTestDatabase();
    try {
      const cases: [Record<string, string>, string][] = [
        [{ PORT: 'abc' }, 'PORT'],
        [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
        [{ OM_DEFAULT_CURRENCY: 'XYZ' }, 'OM_DEFAULT_CURRENCY'],
      ];
      const results = await Promise.all(
        cases.map(([env]) => runCli(db, ['serve'], { env, timeoutMs: 15_000 })),
      );
      for (const [i, result] of results.entries()) {
        const [env, name] = cases[i]!;
        const stderr = assertOneLineFailure(result, JSON.stringify(env));
        assert.ok(stderr.includes(name), `${name} named in: ${stderr}`);
      }
      if (db.config.engine === 'sqlite') {
        assert.equal(fs.existsSync(db.config.file), false, 'the database was not touched');
      }
    } finally {
      await db.drop();
    }
  });
});
