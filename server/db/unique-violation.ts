import { causeChain } from '../../shared/retry.ts';

/**
 * True when `err` (or a cause: drizzle wraps driver errors in DrizzleQueryError) is Postgres'
 * unique_violation on the named constraint. Services turn these into "someone else won the race".
 */
export function isUniqueViolation(err: unknown, constraint: string): boolean {
  for (const e of causeChain(err)) if (e.code === '23505' && e.constraint === constraint) return true;
  return false;
}
