import { findTenant } from '../db/queries/tenants.ts';
import type { Deps } from '../deps.ts';
import { notFound } from '../errors.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { policyForPlan, VERSIONED_KINDS } from './policy.ts';

/** The retention rules as they apply to the caller's plan: what `storage.lifecycle()` shows. */
export async function lifecycleRules(deps: Deps, tenant: TenantScope) {
  const row = await tenant.run((tx) => findTenant(tx, tenant.id));
  if (!row) throw notFound('tenant');
  const { snapshots, artifactTtlDays } = policyForPlan(deps.config.lifecycle.policy, row.plan);
  return {
    plan: row.plan,
    snapshots: { ...snapshots, keepsAlways: ['pinned', 'current (rolled back to)', 'latest ready'] },
    artifactTtlDays,
    versionedKinds: [...VERSIONED_KINDS],
    pendingUploadExpirySeconds: deps.config.limits.uploadUrlExpiry,
    orphanGraceHours: deps.config.lifecycle.orphanGraceHours,
  };
}
