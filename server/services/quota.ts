import type { QuotaStatus } from '../../shared/schemas/quota.ts';
import { formatBytes } from '../../shared/sizes.ts';
import type { Config, Quota } from '../config/index.ts';
import { type Tx, withSystem } from '../db/index.ts';
import { setTenantQuota, type TenantRow, tenantQuotaState } from '../db/queries/tenants.ts';
import type { Deps } from '../deps.ts';
import { CofferError, notFound } from '../errors.ts';

type State = NonNullable<Awaited<ReturnType<typeof tenantQuotaState>>>;

/**
 * Quotas. What counts against one (tenant_usage) is kept by a trigger on artifacts (migration
 * 0009): every artifact that holds or will hold bytes, pending uploads at their declared size.
 * This file owns what a quota is and the one check: after a new artifact row is inserted, in the
 * same transaction. The trigger's row lock makes the next insert of the tenant wait for this
 * transaction, so two concurrent uploads cannot both fit into the same remaining space. That lock
 * is held until COMMIT, so the hot inserts (artifact.put, a plain createUpload) commit without
 * waiting for the disk flush (commitWithoutFlush), or one tenant's writes would queue one flush
 * at a time.
 */
/** The plan's quota (plans COFFER_QUOTAS does not name have none) with the tenant's override over it. */
export function effectiveQuota(config: Config, t: { plan: string; quota: TenantRow['quota'] }): Quota {
  const plan: Quota = config.quotas[t.plan] ?? { bytes: null, objects: null };
  const pick = (field: keyof Quota) => (field in t.quota ? (t.quota[field] ?? null) : plan[field]);
  return { bytes: pick('bytes'), objects: pick('objects') };
}

function statusOf(deps: Deps, s: State): QuotaStatus {
  const { bytes, objects } = effectiveQuota(deps.config, { plan: s.plan, quota: s.override });
  const left = (max: number | null, used: number) => (max === null ? null : Math.max(0, max - used));
  return {
    plan: s.plan,
    bytes,
    objects,
    source: { bytes: 'bytes' in s.override ? 'tenant' : 'plan', objects: 'objects' in s.override ? 'tenant' : 'plan' },
    used: { bytes: s.bytes, objects: s.objects },
    remaining: { bytes: left(bytes, s.bytes), objects: left(objects, s.objects) },
  };
}

async function stateOf(tx: Tx, tenantId: string): Promise<State> {
  const s = await tenantQuotaState(tx, tenantId);
  if (!s) throw notFound('tenant');
  return s;
}

/**
 * Refuses a new artifact of `sizeBytes` that its row, just inserted in `tx`, took past the
 * tenant's quota; throwing rolls that row back, before any byte moves.
 */
export async function assertWithinQuota(deps: Deps, tx: Tx, tenantId: string, sizeBytes: number): Promise<void> {
  const q = statusOf(deps, await stateOf(tx, tenantId));
  const before = { bytes: q.used.bytes - sizeBytes, objects: q.used.objects - 1 };
  const source = (field: keyof Quota) => (q.source[field] === 'tenant' ? 'set for this tenant' : `of plan ${q.plan}`);
  if (q.bytes !== null && q.used.bytes > q.bytes) {
    throw new CofferError(
      'QUOTA_EXCEEDED',
      `storage quota exceeded: this needs ${formatBytes(sizeBytes)}, and the tenant stores ${formatBytes(before.bytes)} ` +
        `(pending uploads included) of its ${formatBytes(q.bytes)} quota ${source('bytes')}, so ${formatBytes(Math.max(0, q.bytes - before.bytes))} ` +
        'are left. Delete artifacts, or ask the operator to raise the quota',
    );
  }
  if (q.objects !== null && q.used.objects > q.objects) {
    throw new CofferError(
      'QUOTA_EXCEEDED',
      `object quota exceeded: the tenant stores ${before.objects} objects (pending uploads included) of its ` +
        `${q.objects}-object quota ${source('objects')}. Delete artifacts, or ask the operator to raise the quota`,
    );
  }
}

/** The tenant's quota and where it stands, read in the caller's transaction. */
export async function quotaStatus(deps: Deps, tx: Tx, tenantId: string): Promise<QuotaStatus> {
  return statusOf(deps, await stateOf(tx, tenantId));
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
    return statusOf(deps, await stateOf(tx, input.tenantId));
  });
}
