import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, createSystemDb } from '../../server/db/index.ts';
import { APP_ROLE, prepareDatabase, SYSTEM_ROLE } from '../../server/db/roles.ts';
import { startRuntime } from '../../server/runtime.ts';

/**
 * Audit finding: the pool's session user was the tables' owner (a superuser on the embedded
 * default), and `SET ROLE NONE` (what withSystem itself did) made any pooled session the owner; an
 * SQL injection would have run as a superuser. Now the service's pool logs in as coffer_app and
 * the system path as coffer_system, and neither can become the owner or a superuser, whatever SQL
 * it runs. These run raw SQL on connections of the very pools the server uses.
 */
let app: pg.Pool;
let system: pg.Pool;
let owner: string;

beforeAll(async () => {
  app = createDb(inject('databaseRoles').app, { max: 1 }).pool;
  system = createSystemDb(inject('databaseRoles').system, { max: 1 }).pool;
  const r = await app.query<{ owner: string }>(
    `select tableowner as owner from pg_tables where tablename = 'events' and schemaname = current_schema()`,
  );
  owner = r.rows[0]!.owner;
});
afterAll(async () => {
  await Promise.all([app?.end(), system?.end()]);
});

/** Who a session is after `statements`, run one by one on one connection (errors kept). */
async function whoAfter(pool: pg.Pool, statements: string[]) {
  const client = await pool.connect();
  const errors: string[] = [];
  try {
    for (const s of statements) await client.query(s).catch((e: { code?: string }) => errors.push(`${s}: ${e.code}`));
    const r = await client.query<{ user: string; session: string; super: boolean; owner: boolean }>(
      `select current_user as user, session_user as session, (select rolsuper from pg_roles where rolname = current_user) as super,
         pg_has_role(current_user, $1, 'MEMBER') as owner`,
      [owner],
    );
    return { ...r.rows[0]!, errors };
  } finally {
    await client.query('reset role').catch(() => {});
    client.release(true);
  }
}

describe('database roles', () => {
  it('the service pool cannot become the owner or a superuser, whatever it runs', async () => {
    expect(owner).not.toBe(APP_ROLE);
    for (const attempt of [
      ['set role none'],
      ['reset role'],
      [`set role ${pg.escapeIdentifier(owner)}`],
      [`set session authorization ${pg.escapeIdentifier(owner)}`],
    ]) {
      const who = await whoAfter(app, attempt);
      expect(who, attempt[0]).toMatchObject({ user: APP_ROLE, session: APP_ROLE, super: false, owner: false });
    }
    const refused = await whoAfter(app, [`set role ${pg.escapeIdentifier(owner)}`, 'set role postgres', `set role ${SYSTEM_ROLE}`]);
    expect(refused.errors).toHaveLength(3); // 42501 (or 22023: no such role), never granted
  });

  it('the system pool bypasses row-level security, but is neither the owner nor a superuser, and cannot become either', async () => {
    const who = await whoAfter(system, ['set role none', `set role ${pg.escapeIdentifier(owner)}`]);
    expect(who).toMatchObject({ user: SYSTEM_ROLE, session: SYSTEM_ROLE, super: false, owner: false });
    const r = await system.query<{ bypass: boolean }>('select rolbypassrls as bypass from pg_roles where rolname = current_user');
    expect(r.rows[0]!.bypass).toBe(true);
    // Data only: no DDL on the owner's tables.
    await expect(system.query('alter table events add column x int')).rejects.toMatchObject({ code: '42501' });
    await expect(system.query('drop table events')).rejects.toMatchObject({ code: '42501' });
  });

  it('neither role may change the schema', async () => {
    for (const pool of [app, system]) {
      await expect(pool.query('create table coffer_probe (x int)')).rejects.toMatchObject({ code: '42501' });
      await expect(pool.query('alter table artifacts disable row level security')).rejects.toMatchObject({ code: '42501' });
    }
  });

  it('an instance refuses to start on a pool that logs in as the owner', async () => {
    const roles = inject('databaseRoles');
    await expect(startRuntime({ app: inject('databaseUrl'), system: roles.system })).rejects.toThrow(
      /app pool's role .*(superuser|owns the tables)/,
    );
    await expect(startRuntime({ app: roles.app, system: inject('databaseUrl') })).rejects.toThrow(/system pool's role/);
    await expect(startRuntime({ app: roles.system, system: roles.system })).rejects.toThrow(/BYPASSRLS/);
  });
});

describe('a DATABASE_URL whose user is not a superuser', () => {
  /** A fresh database owned by a fresh non-superuser login, as an operator would give Coffer. */
  async function operatorDatabase(su: pg.Client) {
    const name = `coffer_probe_${randomUUID().slice(0, 8)}`;
    const password = randomUUID();
    await su.query(`create role ${name} login nosuperuser password ${pg.escapeLiteral(password)}`);
    await su.query(`create database ${name} owner ${name}`);
    const at = (base: string, user?: string, secret?: string) => {
      const u = new URL(base);
      u.pathname = `/${name}`;
      if (user) [u.username, u.password] = [user, encodeURIComponent(secret!)];
      return u.toString();
    };
    const roles = inject('databaseRoles');
    return {
      name,
      ownerUrl: at(inject('databaseUrl'), name, password),
      given: { app: at(roles.app), system: at(roles.system) },
      async drop() {
        await su.query(`drop database if exists ${name} with (force)`);
        await su.query(`drop role if exists ${name}`);
      },
    };
  }

  it('is refused without the roles’ URLs, naming what to set; with them (README, Security), migrations and start-up work', async (ctx) => {
    const su = new pg.Client({ connectionString: inject('databaseUrl') });
    await su.connect();
    const r = await su.query<{ super: boolean }>('select rolsuper as super from pg_roles where rolname = current_user');
    if (!r.rows[0]?.super) {
      await su.end();
      ctx.skip(); // making the probe owner and its database takes a superuser (the embedded default is one)
    }
    const db = await operatorDatabase(su);
    try {
      // What the README asks of an operator: both roles with logins (this test run gave them), the owner a member of coffer_app.
      await su.query(`grant ${APP_ROLE} to ${db.name}`);
      await expect(prepareDatabase(db.ownerUrl)).rejects.toThrow(
        /set DATABASE_APP_URL \(coffer_app\) and DATABASE_SYSTEM_URL \(coffer_system\)/,
      );
      await expect(prepareDatabase(db.ownerUrl, { app: db.given.app })).rejects.toThrow(/both/);
      const urls = await prepareDatabase(db.ownerUrl, db.given);
      expect(urls).toEqual(db.given);
      const runtime = await startRuntime(urls);
      try {
        const who = await runtime.db.execute<{ user: string }>(sql`select current_user as user`);
        expect(who.rows[0]!.user).toBe(APP_ROLE);
      } finally {
        await runtime.close();
      }
    } finally {
      await db.drop();
      await su.end();
    }
  });
});
