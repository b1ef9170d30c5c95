// Regenerates the typed client's types (clients/typescript/schema.d.ts) from the OpenAPI
// document the service serves, with openapi-typescript (API.md §10).
//   node --import tsx scripts/client-generate.ts                 boot the app in-process (throw-away SQLite)
//   node --import tsx scripts/client-generate.ts --url http://127.0.0.1:3000   ask a running service
//   node --import tsx scripts/client-generate.ts --check         fail if the committed types differ (CI)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { servedDocument } from './openapi-document.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const TARGET = path.join(ROOT, 'clients/typescript/schema.d.ts');

const { values } = parseArgs({
  options: { url: { type: 'string' }, check: { type: 'boolean', default: false } },
});

async function documentFrom(url: string | undefined): Promise<unknown> {
  if (url === undefined) return servedDocument();
  const answer = await fetch(new URL('/openapi.json', url));
  if (!answer.ok) throw new Error(`${url}/openapi.json answered ${answer.status}`);
  return answer.json();
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'om-client-'));
try {
  const input = path.join(dir, 'openapi.json');
  const output = path.join(dir, 'schema.d.ts');
  fs.writeFileSync(input, JSON.stringify(await documentFrom(values.url)));
  execFileSync(path.join(ROOT, 'node_modules/.bin/openapi-typescript'), [input, '-o', output], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const generated = fs.readFileSync(output, 'utf8');
  if (values.check) {
    const committed = fs.existsSync(TARGET) ? fs.readFileSync(TARGET, 'utf8') : '';
    if (committed !== generated) {
      console.error(
        'clients/typescript/schema.d.ts differs from what the service serves: run `npm run client:generate` and commit it.',
      );
      process.exitCode = 1;
    } else console.log('clients/typescript/schema.d.ts matches the served document.');
  } else {
    fs.writeFileSync(TARGET, generated);
    console.log(`wrote ${path.relative(ROOT, TARGET)}`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
