import type { ApiKeyScope } from '../shared/constants.ts';
import { type Db, readTenant, type Tx, type TxSettings, withTenant } from './db/index.ts';

/**
 * The tenant a call acts for, as services, jobs and event streams see it. Built from a verified
 * credential by the transport (server/trpc.ts) or by a job for the tenant it works on; `run` is
 * the only way to reach that tenant's rows.
 */
export interface TenantScope {
  id: string;
  keyId: string;
  /** What the key may do; services rarely need it (key.create checks it grants no more). */
  scopes: ApiKeyScope[];
  /** Runs work in one transaction bound to this tenant (row-level security applies), starting with `settings`. */
  run<T>(fn: (tx: Tx) => Promise<T>, settings?: TxSettings): Promise<T>;
  /** `run` for work that only reads: a read-only transaction, answered without waiting for its COMMIT. */
  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}

export function tenantScope(db: Db, p: { tenantId: string; keyId: string; scopes: ApiKeyScope[] }): TenantScope {
  return {
    id: p.tenantId,
    keyId: p.keyId,
    scopes: p.scopes,
    run: (fn, settings) => withTenant(db, p.tenantId, fn, settings),
    read: (fn) => readTenant(db, p.tenantId, fn),
  };
}
