import type { QuotaStatus } from '../../shared/schemas/quota.ts';
import type { Config } from '../config/index.ts';
import { type Tx, type TxSettings, withSystem } from '../db/index.ts';
import { setTenantQuota, type TenantRow, tenantQuotaState } from '../db/queries/tenants.ts';
import type { Deps } from '../deps.ts';
import { notFound } from '../errors.ts';

/**
 * Quotas. What counts against one (tenant_usage) and the check itself live in the database
 * (migrations 0009, 0010): a trigger on artifacts counts every artifact that holds or will hold
 * bytes (pending uploads at their declared size) and refuses, at the inserting transaction's
 * COMMIT, one that takes the tenant past its limit. Its usage row lock makes the next commit of the
 * tenant wait for this one, so two concurrent uploads cannot both take the last space; the refusal
 * (SQLSTATE CF001, which rolls the whole transaction back) becomes QUOTA_EXCEEDED in
 * server/db/pg-errors.ts. This file gives the trigger the instance's plan table, and reads and
 * sets quotas.
 */

const plansJson = new WeakMap<Config, string>();

/** COFFER_QUOTAS as the JSON the database's coffer_limit reads. */
export function plansOf(config: Config): string {
  let json = plansJson.get(config);
  if (json === undefined) {
    json = JSON.stringify(config.quotas);
    plansJson.set(config, json);
  }
  return json;
}

/** What a tenant transaction that stores an artifact starts with (tenant.run's settings). */
export function quotaSettings(config: Config): TxSettings {
  return { 'coffer.plan_quotas': plansOf(config) };
}

/** The tenant's quota and where it stands, read in the caller's transaction. */
export async function quotaStatus(deps: Deps, tx: Tx, tenantId: string): Promise<QuotaStatus> {
  const s = await tenantQuotaState(tx, { id: tenantId, plans: plansOf(deps.config) });
  if (!s) throw notFound('tenant');
  const left = (max: number | null, used: number) => (max === null ? null : Math.max(0, max - used));
  const source = (field: 'bytes' | 'objects') => (field in s.override ? ('tenant' as const) : ('plan' as const));
  return {
    plan: s.plan,
    bytes: s.maxBytes,
    objects: s.maxObjects,
    source: { bytes: source('bytes'), objects: source('objects') },
    used: { bytes: s.bytes, objects: s.objects },
    remaining: { bytes: left(s.maxBytes, s.bytes), objects: left(s.maxObjects, s.objects) },
  };
}

/** The admin's override, field by field: a number, null (no limit) or 'plan' (the plan's again). */
export function setQuota(
  deps: Deps,
  input: { tenantId: string; bytes?: number | null | 'plan'; objects?: number | null | 'plan' },
): Promise<QuotaStatus> {
  const set: TenantRow['quota'] = {};
  const drop: string[] = [];
  for (const field of ['bytes', 'objects'] as const) {
    const v = input[field];
    if (v === 'plan') drop.push(field);
    else if (v !== undefined) set[field] = v;
  }
  return withSystem(deps.systemDb, async (tx) => {
    if (!(await setTenantQuota(tx, { id: input.tenantId, set, drop }))) throw notFound('tenant');
    return quotaStatus(deps, tx, input.tenantId);
  });
}
