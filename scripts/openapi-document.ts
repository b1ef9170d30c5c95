// Prints the OpenAPI document the service serves, built in-process on a throw-away SQLite
// database (nothing listens): `node --import tsx scripts/openapi-document.ts [file]`.
// Used by `npm run lint:openapi` and `npm run client:generate`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createDatabase } from '../src/db/engine.ts';
import { migrateToLatest } from '../src/db/migrate.ts';

export async function servedDocument(): Promise<unknown> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'om-openapi-'));
  try {
    const config = {
      ...loadConfig({}),
      bootstrap: false,
      database: { engine: 'sqlite' as const, file: path.join(dir, 'om.db') },
    };
    const database = createDatabase(config.database);
    try {
      await migrateToLatest(database);
      const app = await buildApp({ config, database, logger: false });
      try {
        await app.ready();
        const answer = await app.inject({ method: 'GET', url: '/openapi.json' });
        if (answer.statusCode !== 200)
          throw new Error(`/openapi.json answered ${answer.statusCode}`);
        return answer.json();
      } finally {
        await app.close();
      }
    } finally {
      await database.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = `${JSON.stringify(await servedDocument(), null, 2)}\n`;
  const file = process.argv[2];
  if (file === undefined) process.stdout.write(text);
  else fs.writeFileSync(file, text);
}
