/**
 * Retention rules as data, and the one function that applies them to a project's snapshots.
 * Nothing else in the code base decides what expires.
 */

import { DEFAULT_POLICY, type RetentionPolicy, type SnapshotRules } from '../config/retention.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Kinds whose lifetime is governed by versions and packs, never by the artifact TTL. */
export const VERSIONED_KINDS = new Set(['build_snapshot', 'diff_pack']);

export interface SnapshotFacts {
  versionId: string;
  createdAt: Date;
  pinned: boolean;
  /** The project's current (rolled-back-to) version. */
  current: boolean;
}

export type KeepReason = 'pinned' | 'current' | 'latest' | 'first_of_year' | 'first_of_month' | 'recent';

/**
 * Why a ready snapshot is kept at `now`, or null when it has expired. `snapshots` are all the
 * project's versions that have a ready snapshot (any order).
 */
export function classifySnapshots(
  snapshots: SnapshotFacts[],
  now: Date,
  policy: RetentionPolicy = DEFAULT_POLICY,
): Map<string, KeepReason | null> {
  const sorted = [...snapshots].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.versionId.localeCompare(b.versionId));
  const firstOfYear = new Set<string>();
  const firstOfMonth = new Set<string>();
  const seenYears = new Set<number>();
  const seenMonths = new Set<string>();
  for (const s of sorted) {
    const y = s.createdAt.getUTCFullYear();
    const m = `${y}-${s.createdAt.getUTCMonth()}`;
    if (!seenYears.has(y)) {
      seenYears.add(y);
      firstOfYear.add(s.versionId);
    }
    if (!seenMonths.has(m)) {
      seenMonths.add(m);
      firstOfMonth.add(s.versionId);
    }
  }
  const latest = sorted.at(-1)?.versionId;
  const ageDays = (d: Date) => (now.getTime() - d.getTime()) / DAY_MS;
  const within = (d: Date, days: number | null) => days === null || ageDays(d) < days;
  const { regularDays, firstOfMonthDays, firstOfYearDays } = policy.snapshots;

  const result = new Map<string, KeepReason | null>();
  for (const s of sorted) {
    let reason: KeepReason | null = null;
    if (s.pinned) reason = 'pinned';
    else if (s.current) reason = 'current';
    else if (s.versionId === latest) reason = 'latest';
    else if (firstOfYear.has(s.versionId) && within(s.createdAt, firstOfYearDays)) reason = 'first_of_year';
    else if (firstOfMonth.has(s.versionId) && within(s.createdAt, firstOfMonthDays)) reason = 'first_of_month';
    else if (within(s.createdAt, regularDays)) reason = 'recent';
    result.set(s.versionId, reason);
  }
  return result;
}

/** The TTL in days for a tenant artifact of `kind` on `plan`; null when it is kept. */
export function artifactTtlDays(plan: string, kind: string, policy: RetentionPolicy = DEFAULT_POLICY): number | null {
  if (VERSIONED_KINDS.has(kind)) return null;
  const rules = policy.artifactTtlDays[plan] ?? policy.artifactTtlDays.free ?? {};
  const ttl = rules[kind] ?? rules['*'];
  return ttl === undefined ? null : ttl;
}

/** The policy as it applies to one plan: snapshot rules resolved, TTLs of that plan (free's for unknown plans). */
export function policyForPlan(policy: RetentionPolicy, plan: string) {
  const snapshots: SnapshotRules = { ...policy.snapshots, ...policy.snapshotsByPlan[plan] };
  const artifactTtlDays = policy.artifactTtlDays[plan] ?? policy.artifactTtlDays.free ?? {};
  return { snapshots, artifactTtlDays, resolved: { ...policy, snapshots } satisfies RetentionPolicy };
}
