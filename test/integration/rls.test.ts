import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, createSystemDb, type Db, readTenant, type SystemDb, withSystem, withTenant } from '../../server/db/index.ts';
import { APP_ROLE } from '../../server/db/roles.ts';
import { apiKeys, artifacts, events, tenants, tenantUsage } from '../../server/db/schema/index.ts';

/**
 * Row-level security (migration 0004_rls): one missing `where tenant_id = ...` must not become a
 * breach. These run against the service's own pool (createDb), i.e. as coffer_app.
 */
let db: Db;
let pool: pg.Pool;
let systemDb: SystemDb;
let systemPool: pg.Pool;
let a: string;
let b: string;

const artifactRow = (tenantId: string) => ({
  id: randomUUID(),
  tenantId,
  kind: 'rls-test',
  storageKey: `tenants/${tenantId}/rls/${randomUUID()}`,
  contentType: 'application/json',
  sizeBytes: 1,
  sha256: '0'.repeat(64),
  status: 'ready' as const,
});

/** Tenant transactions that insert artifacts pass the plan table the quota trigger reads; none here. */
const NO_QUOTAS = { 'coffer.plan_quotas': '{}' };

beforeAll(async () => {
  ({ db, pool } = createDb(inject('databaseRoles').app, { max: 3 }));
  ({ db: systemDb, pool: systemPool } = createSystemDb(inject('databaseRoles').system));
  [a, b] = await withSystem(systemDb, async (tx) => {
    const rows = await tx
      .insert(tenants)
      .values([{ name: 'rls A' }, { name: 'rls B' }])
      .returning({ id: tenants.id });
    return rows.map((r) => r.id) as [string, string];
  });
  await withTenant(db, a, (tx) => tx.insert(artifacts).values([artifactRow(a), artifactRow(a)]), NO_QUOTAS);
  await withTenant(db, b, (tx) => tx.insert(artifacts).values(artifactRow(b)), NO_QUOTAS);
});
afterAll(async () => {
  await withSystem(systemDb, (tx) => tx.delete(tenants).where(sql`${tenants.id} in (${a}, ${b})`)).catch(() => {});
  await Promise.all([pool.end(), systemPool.end()]);
});

describe('row-level security', () => {
  it("a query that forgets the tenant filter still sees only the bound tenant's rows", async () => {
    const rows = await withTenant(db, b, (tx) => tx.select().from(artifacts)); // no where clause, on purpose
    expect(rows.length).toBe(1);
    expect(rows.every((r) => r.tenantId === b)).toBe(true);
    // A's rows exist, and A sees exactly those.
    expect((await withTenant(db, a, (tx) => tx.select().from(artifacts))).map((r) => r.tenantId)).toEqual([a, a]);
    // Another tenant's row by id is simply not there, for reads, updates and deletes alike.
    const [aRow] = await withTenant(db, a, (tx) => tx.select().from(artifacts).limit(1));
    expect(await withTenant(db, b, (tx) => tx.select().from(artifacts).where(eq(artifacts.id, aRow!.id)))).toEqual([]);
    expect(
      await withTenant(db, b, (tx) => tx.update(artifacts).set({ filename: 'x' }).where(eq(artifacts.id, aRow!.id)).returning()),
    ).toEqual([]);
    expect(await withTenant(db, b, (tx) => tx.delete(artifacts).where(eq(artifacts.id, aRow!.id)).returning())).toEqual([]);
    // A tenant reads its own tenants row only, and its own usage.
    expect((await withTenant(db, b, (tx) => tx.select().from(tenants))).map((t) => t.id)).toEqual([b]);
    expect(await withTenant(db, b, (tx) => tx.select().from(tenantUsage))).toEqual([{ tenantId: b, bytes: 1, objects: 1 }]);
  });

  it('refuses a tenant transaction that stores an artifact without the plan quotas the quota check needs', async () => {
    const insert = withTenant(db, b, (tx) => tx.insert(artifacts).values(artifactRow(b)));
    // The quota count runs at COMMIT (migration 0010), so the refusal is the COMMIT's own error.
    await expect(insert).rejects.toThrow(/must set coffer.plan_quotas/);
  });

  it("refuses to write another tenant's rows from a tenant's transaction (WITH CHECK)", async () => {
    const insert = withTenant(db, b, (tx) => tx.insert(artifacts).values(artifactRow(a)), NO_QUOTAS);
    await expect(insert).rejects.toMatchObject({ cause: { code: '42501' } }); // new row violates row-level security policy
    const event = withTenant(db, b, (tx) => tx.insert(events).values({ tenantId: a, type: 'x', data: {} }));
    await expect(event).rejects.toMatchObject({ cause: { code: '42501' } });
    // Nor can an update move B's own row over to A.
    const move = withTenant(db, b, (tx) => tx.update(artifacts).set({ tenantId: a }));
    await expect(move).rejects.toMatchObject({ cause: { code: '42501' } });
    const tenant = withTenant(db, b, (tx) => tx.insert(tenants).values({ name: 'minted by B' }));
    await expect(tenant).rejects.toMatchObject({ cause: { code: '42501' } });
  });

  it('outside any tenant the pool sees no tenant rows at all', async () => {
    expect(await db.select().from(artifacts)).toEqual([]);
    expect(await db.select().from(apiKeys)).toEqual([]);
    expect(await db.select().from(tenants)).toEqual([]);
    // An empty app.tenant_id (what is left after a transaction that set it) matches nothing, without a cast error.
    expect(
      await db.transaction(async (tx) => {
        await tx.execute(sql`select set_config('app.tenant_id', '', true)`);
        return tx.select().from(artifacts);
      }),
    ).toEqual([]);
    // coffer_app cannot opt into the owner's bypass policy by setting its variable.
    expect(
      await db.transaction(async (tx) => {
        await tx.execute(sql`select set_config('app.bypass_rls', 'on', true)`);
        return tx.select().from(artifacts);
      }),
    ).toEqual([]);
  });

  it('withSystem sees every tenant, on its own pool; the service pool stays coffer_app', async () => {
    const rows = await withSystem(systemDb, (tx) => tx.select().from(artifacts).where(sql`${artifacts.tenantId} in (${a}, ${b})`));
    expect(rows.map((r) => r.tenantId).sort()).toEqual([a, a, b].sort());
    for (let i = 0; i < 3; i++) {
      const r = await db.execute<{ role: string }>(sql`select current_user as role`);
      expect(r.rows[0]!.role).toBe(APP_ROLE);
    }
  });

  it('the pool works as a role that is neither a superuser nor the owner of any table', async () => {
    const r = await db.execute<{ role: string; super: boolean; bypass: boolean; owns: number }>(sql`
      select current_user as role, r.rolsuper as super, r.rolbypassrls as bypass,
        (select count(*)::int from pg_tables t where t.tableowner = current_user) as owns
      from pg_roles r where r.rolname = current_user`);
    expect(r.rows).toEqual([{ role: APP_ROLE, super: false, bypass: false, owns: 0 }]);
    const owners = await db.execute<{ owner: string }>(
      sql`select distinct tableowner as owner from pg_tables where schemaname = current_schema()`,
    );
    expect(owners.rows.map((o) => o.owner)).not.toContain(APP_ROLE);
  });

  it('every table with a tenant_id has row-level security enabled and forced', async () => {
    const r = await db.execute<{ table: string; enabled: boolean; forced: boolean }>(sql`
      select c.relname as table, c.relrowsecurity as enabled, c.relforcerowsecurity as forced
      from information_schema.columns col
      join pg_class c on c.relname = col.table_name and c.relnamespace = to_regnamespace(col.table_schema)
      where col.column_name = 'tenant_id' and col.table_schema = current_schema() and c.relkind = 'r'
      order by 1`);
    expect(r.rows.map((t) => t.table)).toEqual(
      expect.arrayContaining(['api_keys', 'artifacts', 'diff_packs', 'events', 'projects', 'usage_alerts', 'versions']),
    );
    for (const t of r.rows) expect(t, t.table).toEqual({ table: t.table, enabled: true, forced: true });
    const self = await db.execute<{ enabled: boolean; forced: boolean }>(
      sql`select relrowsecurity as enabled, relforcerowsecurity as forced from pg_class where oid = 'tenants'::regclass`,
    );
    expect(self.rows).toEqual([{ enabled: true, forced: true }]);
  });
});

describe('read-only tenant transactions (readTenant)', () => {
  it('refuse a write, and leave nothing behind', async () => {
    const write = readTenant(db, b, (tx) => tx.insert(artifacts).values(artifactRow(b)));
    await expect(write).rejects.toMatchObject({ cause: { code: '25006' } }); // read_only_sql_transaction
    expect(await readTenant(db, b, (tx) => tx.select().from(artifacts))).toHaveLength(1);
  });

  it("see only the bound tenant's rows", async () => {
    expect((await readTenant(db, a, (tx) => tx.select().from(artifacts))).map((r) => r.tenantId)).toEqual([a, a]);
    const [aRow] = await readTenant(db, a, (tx) => tx.select().from(artifacts).limit(1));
    expect(await readTenant(db, b, (tx) => tx.select().from(artifacts).where(eq(artifacts.id, aRow!.id)))).toEqual([]);
  });

  it('hand their connection on before their COMMIT is answered, and the next transaction on it is whole', async () => {
    // One connection, so every transaction follows a read's unanswered COMMIT on the same socket.
    const one = createDb(inject('databaseRoles').app, { max: 1 });
    try {
      for (let round = 0; round < 5; round++) {
        const calls = Array.from({ length: 40 }, (_, i) => {
          const tenant = i % 2 ? a : b;
          if (i % 5 === 4) {
            const row = artifactRow(tenant);
            return withTenant(one.db, tenant, (tx) => tx.insert(artifacts).values(row).returning({ id: artifacts.id }), NO_QUOTAS).then(
              async ([r]) => {
                const seen = await readTenant(one.db, tenant, (tx) => tx.select().from(artifacts).where(eq(artifacts.id, r!.id)));
                expect(seen).toHaveLength(1); // a write committed before the read began is visible to it
                await withTenant(one.db, tenant, (tx) => tx.delete(artifacts).where(eq(artifacts.id, r!.id)));
                return tenant;
              },
            );
          }
          return readTenant(one.db, tenant, async (tx) => {
            const rows = await tx.select().from(artifacts);
            expect(rows.every((r) => r.tenantId === tenant)).toBe(true);
            // Each read is its own transaction: no setting leaks from the one before on this socket.
            const [bound] = (
              await tx.execute<{ t: string; ro: string }>(
                sql`select current_setting('app.tenant_id') as t, current_setting('transaction_read_only') as ro`,
              )
            ).rows;
            expect(bound).toEqual({ t: tenant, ro: 'on' });
            return tenant;
          });
        });
        expect(await Promise.all(calls)).toHaveLength(40);
      }
      const [after] = (await one.db.execute<{ state: string }>(sql`select current_setting('transaction_read_only') as state`)).rows;
      expect(after).toEqual({ state: 'off' }); // the pool's connection is not left inside a read-only transaction
    } finally {
      await one.pool.end();
    }
  });
});
