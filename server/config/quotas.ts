import { z } from 'zod';

/**
 * Storage quotas as settings: per plan, what a tenant may keep stored (bytes and objects), and
 * COFFER_QUOTAS's override merged over the defaults. null is no limit. An admin may override a
 * tenant's own (admin.setQuota); what counts against a quota is server/services/quota.ts's.
 */
export interface Quota {
  bytes: number | null;
  objects: number | null;
}

const GB = 1e9;

/** Generous on purpose: a quota stops one tenant from filling the bucket, not ordinary use. */
export const DEFAULT_QUOTAS: Record<string, Quota> = {
  free: { bytes: 10 * GB, objects: 1_000_000 },
  pro: { bytes: 1000 * GB, objects: 10_000_000 },
  premium: { bytes: null, objects: null },
};

/** Merges plan by plan and field by field, so `{"free":{"bytes":5e9}}` keeps free's object quota. */
export function mergeQuotas(base: Record<string, Quota>, o: Record<string, Partial<Quota>> = {}): Record<string, Quota> {
  const merged = { ...base };
  for (const [plan, q] of Object.entries(o)) merged[plan] = { bytes: null, objects: null, ...base[plan], ...q };
  return merged;
}

const limit = z.number().int().min(0).nullable();

/** COFFER_QUOTAS's JSON: plans and fields to change, e.g. {"free":{"bytes":5000000000}}. */
export const quotasOverride = z.record(z.string(), z.object({ bytes: limit, objects: limit }).partial().strict());
