/**
 * Every Postgres advisory lock Coffer takes, in one place, so no two uses can collide. Two-key
 * locks use a namespace as the first key and hashtext(name) as the second.
 */
export const ADVISORY_LOCKS = {
  /** Session lock around migrations, so instances starting together migrate once. */
  migrations: 0x0c0ffe5,
  /** Namespace of the transaction locks that order one tenant's event writes (key 2: hashtext(tenant id)). */
  tenantEvents: 0x0c0f,
  /** Namespace of the session locks that let one instance at a time run a cleanup job (key 2: hashtext(job)). */
  cleanupJobs: 0x0c1e,
  /** Namespace of the transaction locks that serialize one tenant's key creations against its cap (key 2: hashtext(tenant id)). */
  tenantKeys: 0x0c0e,
} as const;
