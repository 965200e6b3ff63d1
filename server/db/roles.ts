import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import pg from 'pg';
import { migrateOn } from './index.ts';

/**
 * The three database roles. The owner (the login user of DATABASE_URL) owns the tables and runs
 * the migrations, and nothing else. The service's pool logs in as APP_ROLE: no superuser, no
 * BYPASSRLS, owns nothing, is a member of no other role, so row-level security binds it and no
 * `SET ROLE` leads anywhere. The system pool (withSystem) logs in as SYSTEM_ROLE: BYPASSRLS, but
 * likewise no superuser, no owner, no member of either, and only DML rights.
 */
export const APP_ROLE = 'coffer_app';
export const SYSTEM_ROLE = 'coffer_system';

export interface RoleUrls {
  app: string;
  system: string;
}

/**
 * Start-up on one owner session: migrations (under their lock, so instances starting together
 * migrate once), then the two roles' logins. Given URLs (DATABASE_APP_URL, DATABASE_SYSTEM_URL:
 * roles an operator created) are used as they are; otherwise the owner gives both roles a login
 * itself, which takes a superuser (only a superuser may grant BYPASSRLS): the embedded default is
 * one. Their passwords are derived from the owner's, so every instance of a deployment computes
 * the same ones and none changes them under the others.
 */
export async function prepareDatabase(ownerUrl: string, given: Partial<RoleUrls> = {}): Promise<RoleUrls> {
  const client = new pg.Client({ connectionString: ownerUrl, application_name: 'coffer-migrations' });
  await client.connect();
  try {
    await migrateOn(client);
    if (given.app && given.system) return { app: given.app, system: given.system };
    if (given.app || given.system) throw new Error('set both DATABASE_APP_URL and DATABASE_SYSTEM_URL, or neither');
    return await provisionLogins(client, ownerUrl);
  } finally {
    await client.end();
  }
}

async function provisionLogins(owner: pg.Client, ownerUrl: string): Promise<RoleUrls> {
  const r = await owner.query<{ super: boolean }>('select rolsuper as super from pg_roles where rolname = current_user');
  const secret = decodeURIComponent(new URL(ownerUrl).password);
  if (!r.rows[0]?.super || !secret) {
    throw new Error(
      "DATABASE_URL's user cannot give Coffer's roles a login (that takes a superuser with a password in the URL): " +
        `create them as in the README's Security section and set DATABASE_APP_URL (${APP_ROLE}) and DATABASE_SYSTEM_URL (${SYSTEM_ROLE})`,
    );
  }
  const roles = [
    { key: 'app', role: APP_ROLE, bypass: false },
    { key: 'system', role: SYSTEM_ROLE, bypass: true },
  ] as const;
  const urls = { app: '', system: '' };
  const current = await owner.query<{ role: string; login: boolean; bypass: boolean; verifier: string | null }>(
    'select rolname as role, rolcanlogin as login, rolbypassrls as bypass, rolpassword as verifier from pg_authid where rolname = any($1)',
    [roles.map((r) => r.role)],
  );
  for (const { key, role, bypass } of roles) {
    const derive = (what: string) => createHmac('sha256', secret).update(`coffer-role:${role}:${what}`).digest();
    const password = derive('password').toString('base64url');
    // Sent as a SCRAM verifier, never in clear (statement logs), with a salt derived like the
    // password, so an unchanged role is recognised and not rewritten at every start.
    const verifier = scramVerifier(password, derive('salt').subarray(0, 16));
    const now = current.rows.find((r) => r.role === role);
    if (!now?.login || now.bypass !== bypass || now.verifier !== verifier) {
      await owner.query(
        `ALTER ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE ${bypass ? 'BYPASSRLS' : 'NOBYPASSRLS'} PASSWORD ${owner.escapeLiteral(verifier)}`,
      );
    }
    urls[key] = withLogin(ownerUrl, role, password);
  }
  return urls;
}

/** The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 5802/7677, 4096 iterations). */
function scramVerifier(password: string, salt: Buffer): string {
  const salted = pbkdf2Sync(password, salt, 4096, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$4096:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

function withLogin(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = encodeURIComponent(password);
  return u.toString();
}

/**
 * Refuses a pool whose login role is not what it must be (an operator's URL pointing at the
 * owner, a role with too much): checked once at start, from the pool's own connection.
 */
export async function assertRole(pool: pg.Pool, kind: 'app' | 'system'): Promise<void> {
  const r = await pool.query<{ role: string; super: boolean; bypass: boolean; owner: boolean; elevated: boolean }>(`
    select current_user as role, r.rolsuper as super, r.rolbypassrls as bypass,
      pg_has_role(current_user, (select tableowner from pg_tables where schemaname = current_schema() and tablename = 'events'), 'MEMBER') as owner,
      exists (select 1 from pg_roles s where s.rolsuper and pg_has_role(current_user, s.oid, 'MEMBER')) as elevated
    from pg_roles r where r.rolname = current_user`);
  const row = r.rows[0];
  const wrong = !row
    ? ['unknown role']
    : [
        row.super && 'is a superuser',
        row.owner && 'owns the tables (or may become their owner)',
        row.elevated && 'may become a superuser',
        kind === 'app' && row.bypass && 'has BYPASSRLS',
        kind === 'system' && !row.bypass && 'lacks BYPASSRLS',
      ].filter(Boolean);
  if (wrong.length) {
    const variable = kind === 'app' ? 'DATABASE_APP_URL' : 'DATABASE_SYSTEM_URL';
    throw new Error(`the ${kind} pool's role ${row?.role ?? '?'} ${wrong.join(', ')}: fix the role or ${variable} (README, Security)`);
  }
}
