import type { CofferErrorCode } from '../../shared/errors.ts';
import { causeChain } from '../../shared/retry.ts';

/**
 * What a Postgres error that no service handled means for the caller, by SQLSTATE. Their raw
 * messages name tables, constraints and values, so callers get fixed text only:
 * - class 22 (data exception: a NUL byte, an out-of-range number) comes from a value the caller
 *   sent, which the schemas let through but the database cannot store;
 * - class 23 (integrity) and 40 (serialization, deadlock) are a concurrent change that won;
 * - 53 (out of resources) and 57014 (statement timeout) are a database too busy to answer.
 */
export function classifyPgError(err: unknown): { code: CofferErrorCode; message: string } | null {
  const sqlstate = findSqlState(err);
  if (!sqlstate) return null;
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
