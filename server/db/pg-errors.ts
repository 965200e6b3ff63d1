import type { CofferErrorCode } from '../../shared/errors.ts';
import { causeChain } from '../../shared/retry.ts';
import { formatBytes } from '../../shared/sizes.ts';

/**
 * What a Postgres error that no service handled means for the caller, by SQLSTATE. Their raw
 * messages name tables, constraints and values, so callers get fixed text only:
 * - class 22 (data exception: a NUL byte, an out-of-range number) comes from a value the caller
 *   sent, which the schemas let through but the database cannot store;
 * - class 23 (integrity) and 40 (serialization, deadlock) are a concurrent change that won;
 * - 53 (out of resources) and 57014 (statement timeout) are a database too busy to answer;
 * - CF001 is the quota trigger refusing a new artifact (migration 0009), its numbers in DETAIL.
 */
export function classifyPgError(err: unknown): { code: CofferErrorCode; message: string } | null {
  const sqlstate = findSqlState(err);
  if (!sqlstate) return null;
  if (sqlstate === QUOTA_SQLSTATE) return { code: 'QUOTA_EXCEEDED', message: quotaMessage(err) };
  if (sqlstate.startsWith('22'))
    return {
      code: 'BAD_INPUT',
      message: 'input contains a value the database cannot store (such as a NUL character or an out-of-range number)',
    };
  if (sqlstate.startsWith('23') || sqlstate === '40001' || sqlstate === '40P01')
    return { code: 'CONFLICT', message: 'a concurrent change conflicted with this request; retry it' };
  if (sqlstate.startsWith('53') || sqlstate === '57014') return { code: 'DATABASE_UNAVAILABLE', message: 'database busy, retry shortly' };
  return null;
}

/** drizzle wraps driver errors (DrizzleQueryError), so the SQLSTATE may sit a few causes down. */
function findSqlState(err: unknown): string | undefined {
  for (const { code } of causeChain(err)) if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  return undefined;
}

const QUOTA_SQLSTATE = 'CF001';

interface QuotaDetail {
  plan: string;
  overridden: { bytes: boolean; objects: boolean };
  askedBytes: number;
  usedBytes: number;
  maxBytes: number | null;
  usedObjects: number;
  maxObjects: number | null;
}

/** What was asked, used and left, from the trigger's DETAIL (numbers only, the caller's own). */
function quotaMessage(err: unknown): string {
  let d: QuotaDetail | undefined;
  for (const { code, detail } of causeChain(err)) if (code === QUOTA_SQLSTATE && typeof detail === 'string') d = JSON.parse(detail);
  if (!d) return 'storage quota exceeded. Delete artifacts, or ask the operator to raise the quota';
  const of = (field: 'bytes' | 'objects') => (d.overridden[field] ? 'set for this tenant' : `of plan ${d.plan}`);
  const fix = 'Delete artifacts, or ask the operator to raise the quota';
  if (d.maxBytes !== null && d.usedBytes + d.askedBytes > d.maxBytes) {
    return (
      `storage quota exceeded: this needs ${formatBytes(d.askedBytes)}, and the tenant stores ${formatBytes(d.usedBytes)} ` +
      `(pending uploads included) of its ${formatBytes(d.maxBytes)} quota ${of('bytes')}, so ` +
      `${formatBytes(Math.max(0, d.maxBytes - d.usedBytes))} are left. ${fix}`
    );
  }
  return `object quota exceeded: the tenant stores ${d.usedObjects} objects (pending uploads included) of its ${d.maxObjects}-object quota ${of('objects')}. ${fix}`;
}
