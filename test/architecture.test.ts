// The import directions of docs/architecture.md are enforced by lint: each rule is shown to
// fire on an import against it, and to let the allowed direction pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint, type Linter } from 'eslint';

// The lint config is plain JavaScript; its layers are read as they are linted with.
const configUrl = new URL('../eslint.config.js', import.meta.url).href;
const { LAYERS } = (await import(configUrl)) as { LAYERS: Linter.Config[] };

// Only the layer rules, so plain import lines lint without the type-aware project.
const eslint = new ESLint({
  cwd: new URL('..', import.meta.url).pathname,
  overrideConfigFile: true,
  // Every file matched (the composition layer has no restrictions of its own), then the layers.
  overrideConfig: [{ files: ['**/*.ts'] }, ...LAYERS],
});

async function refusals(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${source}\nexport {};\n`, { filePath });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

const CASES: { file: string; imports: string; allowed: boolean }[] = [
  // rules are pure
  { file: 'src/payments/payments.rules.ts', imports: './payments.repository.ts', allowed: false },
  { file: 'src/payments/payments.rules.ts', imports: '../db/engine.ts', allowed: false },
  { file: 'src/payments/payments.rules.ts', imports: '../http/envelope.ts', allowed: false },
  {
    file: 'src/payments/payments.rules.ts',
    imports: '../events/events.repository.ts',
    allowed: false,
  },
  { file: 'src/payments/payments.rules.ts', imports: '../db/schema.ts', allowed: true },
  { file: 'src/payments/payments.rules.ts', imports: '../orders/orders.rules.ts', allowed: true },
  // no service imports another domain's service
  {
    file: 'src/payments/payments.service.ts',
    imports: '../orders/orders.service.ts',
    allowed: false,
  },
  {
    file: 'src/payments/payments.moves.ts',
    imports: '../orders/orders.service.ts',
    allowed: false,
  },
  { file: 'src/payments/payments.moves.ts', imports: '../orders/orders.rules.ts', allowed: true },
  {
    file: 'src/payments/payments.service.ts',
    imports: '../orders/orders.repository.ts',
    allowed: true,
  },
  { file: 'src/payments/payments.service.ts', imports: '../http/envelope.ts', allowed: false },
  { file: 'src/payments/payments.service.ts', imports: './payments.schemas.ts', allowed: false },
  // routes call their service
  { file: 'src/orders/orders.routes.ts', imports: './orders.repository.ts', allowed: false },
  { file: 'src/orders/orders.routes.ts', imports: '../db/engine.ts', allowed: false },
  {
    file: 'src/orders/orders.routes.ts',
    imports: '../payments/payments.service.ts',
    allowed: false,
  },
  { file: 'src/orders/orders.routes.ts', imports: './orders.service.ts', allowed: true },
  // repositories hold SQL only
  { file: 'src/orders/orders.repository.ts', imports: './orders.service.ts', allowed: false },
  { file: 'src/orders/orders.repository.ts', imports: './orders.rules.ts', allowed: false },
  {
    file: 'src/payments/payments.repository.ts',
    imports: '../orders/orders.repository.ts',
    allowed: true,
  },
  // infrastructure depends on no domain
  { file: 'src/db/together.ts', imports: '../payments/payments.repository.ts', allowed: false },
  { file: 'src/db/together.ts', imports: '../http/envelope.ts', allowed: false },
  { file: 'src/http/idempotency.ts', imports: '../payments/payments.service.ts', allowed: false },
  { file: 'src/http/auth.ts', imports: '../api-keys/api-keys.service.ts', allowed: true },
  { file: 'src/shared/audit.ts', imports: '../db/engine.ts', allowed: false },
  { file: 'src/money/wire.ts', imports: '../orders/orders.rules.ts', allowed: false },
  // a domain that does not exist yet is covered by its files' roles
  { file: 'src/webhooks/webhooks.rules.ts', imports: './webhooks.repository.ts', allowed: false },
  {
    file: 'src/webhooks/webhooks.service.ts',
    imports: '../events/events.service.ts',
    allowed: false,
  },
  // composition may import anything
  { file: 'src/app.ts', imports: './payments/payments.routes.ts', allowed: true },
];

for (const { file, imports, allowed } of CASES) {
  void test(`${file} ${allowed ? 'may' : 'may not'} import ${imports}`, async () => {
    const messages = await refusals(file, `import '${imports}';`);
    if (allowed) assert.deepEqual(messages, []);
    else {
      assert.ok(messages.length > 0, 'refused');
      for (const m of messages) assert.match(m, /^no-restricted-imports: .*docs\/architecture\.md/);
    }
  });
}
