/**
 * True when `err` (or a cause: drizzle wraps driver errors in DrizzleQueryError) is Postgres'
 * unique_violation on the named constraint. Services turn these into "someone else won the race".
 */
export function isUniqueViolation(err: unknown, constraint: string): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const { code, constraint: name } = e as { code?: unknown; constraint?: unknown };
    if (code === '23505' && name === constraint) return true;
  }
  return false;
}
