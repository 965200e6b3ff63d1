import type { z } from 'zod';
import type { createTenantInput } from '../../shared/schemas/admin.ts';
import { withSystem } from '../db/index.ts';
import { insertTenant } from '../db/queries/tenants.ts';
import type { Deps } from '../deps.ts';
import { issueKey } from './api-keys.ts';

/** The operator creates tenants (admin token, so past row-level security); each starts with a read/write key. */
export function createTenant(deps: Deps, input: z.output<typeof createTenantInput>) {
  return withSystem(deps.systemDb, async (tx) => {
    const tenant = await insertTenant(tx, { name: input.name, plan: input.plan });
    const apiKey = await issueKey(tx, { tenantId: tenant.id, name: 'default', scopes: ['read', 'write'] });
    return { tenant, apiKey };
  });
}
