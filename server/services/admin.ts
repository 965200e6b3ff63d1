import type { z } from 'zod';
import type { ApiKeyScope } from '../../shared/constants.ts';
import type { createApiKeyInput, createTenantInput } from '../../shared/schemas/admin.ts';
import { type DbOrTx, withSystem } from '../db/index.ts';
import * as q from '../db/queries/tenants.ts';
import type { Deps } from '../deps.ts';
import { notFound } from '../errors.ts';
import { generateApiKey } from './auth.ts';

export function toKeyInfo(row: q.ApiKeyRow) {
  const { secretHash: _secretHash, ...info } = row;
  return { ...info, scopes: info.scopes as ApiKeyScope[] };
}

export async function issueKey(db: DbOrTx, p: { tenantId: string; name: string; scopes: ApiKeyScope[] }) {
  const { key, prefix, secretHash } = generateApiKey();
  const row = await q.insertApiKey(db, { ...p, prefix, secretHash });
  return { ...toKeyInfo(row), key };
}

/*
 * The admin token's services act on any tenant, so they run through withSystem (past row-level
 * security). They are reachable only through adminProcedure.
 */

export function createTenant(deps: Deps, input: z.output<typeof createTenantInput>) {
  return withSystem(deps.db, async (tx) => {
    const tenant = await q.insertTenant(tx, { name: input.name, plan: input.plan });
    const apiKey = await issueKey(tx, { tenantId: tenant.id, name: 'default', scopes: ['read', 'write'] });
    return { tenant, apiKey };
  });
}

export async function createApiKey(deps: Deps, input: z.output<typeof createApiKeyInput>) {
  return withSystem(deps.db, async (tx) => {
    if (!(await q.findTenant(tx, input.tenantId))) throw notFound('tenant');
    return issueKey(tx, input);
  });
}

export async function revokeApiKey(deps: Deps, keyId: string) {
  const row = await withSystem(deps.db, (tx) => q.revokeApiKey(tx, { id: keyId, now: deps.now() }));
  if (!row) throw notFound('API key');
  return toKeyInfo(row);
}
