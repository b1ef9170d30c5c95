// First start is usable at once: an empty database gets a demo organization and an admin key.
import type { Database } from './db/engine.ts';
import { createApiKey, type ApiKey } from './api-keys/api-keys.service.ts';
import { cliCaller } from './shared/context.ts';
import { countOrganizations } from './organizations/organizations.repository.ts';
import { createOrganization, type Organization } from './organizations/organizations.service.ts';

export interface Bootstrapped {
  organization: Organization;
  apiKey: ApiKey;
  secret: string;
}

/**
 * Creates the demo organization and its admin key when no organization exists yet. Runs under
 * a named lock, so two instances starting together on one database bootstrap only once.
 */
export async function bootstrapIfEmpty(
  database: Database,
  currency: string,
): Promise<Bootstrapped | undefined> {
  const caller = { ...cliCaller('bootstrap'), via: 'bootstrap' };
  return database.transaction(async (tx) => {
    await database.lockName(tx, 'om-payments:bootstrap');
    if ((await countOrganizations(tx)) > 0) return undefined;
    const organization = await createOrganization(
      database,
      caller,
      { name: 'Demo organization', currency },
      tx,
    );
    const { apiKey, secret } = await createApiKey(
      database,
      caller,
      { name: 'bootstrap admin', role: 'admin', organizations: 'all', principal: 'admin' },
      tx,
    );
    return { organization, apiKey, secret };
  });
}
