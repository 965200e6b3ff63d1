import { and, eq, inArray } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifacts } from '../../server/db/schema/index.ts';
import { appRouter } from '../../server/routers/_app.ts';
import { type CallType, hostileInput, hostileValue, malformedBodies, type RawAnswer, send, sendCall } from '../support/hostile.ts';
import { buildWorld, seedsFor, type World } from '../support/hostile-world.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';

/** Property runs per procedure and backend; each run sends 4-12 inputs at once (about 65 per procedure; HOSTILE_RUNS=40 for a deep run). */
const RUNS = Number(process.env.HOSTILE_RUNS ?? 8);
const SEED = Number(process.env.HOSTILE_SEED ?? 20240601);
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: CallType; inputs: unknown[] } }>);

/** Top-level field names of a procedure's zod input, so a new procedure's fields get mutated too. */
const fieldsOf = (proc: { _def: { inputs: unknown[] } }) =>
  proc._def.inputs.flatMap((schema) => Object.keys((schema as { shape?: Record<string, unknown> }).shape ?? {}));

const TYPED =
  /^(BAD_REQUEST|UNAUTHORIZED|FORBIDDEN|NOT_FOUND|METHOD_NOT_SUPPORTED|CONFLICT|PRECONDITION_FAILED|PAYLOAD_TOO_LARGE|UNSUPPORTED_MEDIA_TYPE|UNPROCESSABLE_CONTENT|TOO_MANY_REQUESTS|PARSE_ERROR)$/;

/** Percent-encodes the UTF-8 bytes (encodeURIComponent throws on lone surrogates, which we want to send). */
const percentEncode = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

/** Null if the answer is acceptable, else why not. */
function problem(ans: RawAnswer, world: World, asVictimOutsider: boolean): string | null {
  // Node's HTTP parser refuses a request line over 16 KiB before any code of ours runs.
  if (ans.status === 431) return null;
  if (ans.status >= 500) return `status ${ans.status}: ${ans.text.slice(0, 300)}`;
  if (/INTERNAL_SERVER_ERROR/.test(ans.text)) return `internal error in body: ${ans.text.slice(0, 300)}`;
  if (asVictimOutsider && world.secrets.some((s) => ans.text.includes(s))) return `cross-tenant leak: ${ans.text.slice(0, 300)}`;
  if (ans.status < 400) return null;
  let body: unknown;
  try {
    body = JSON.parse(ans.text);
  } catch {
    return `untyped ${ans.status}: ${ans.text.slice(0, 200)}`;
  }
  for (const item of Array.isArray(body) ? body : [body]) {
    const data = (item as { error?: { json?: { data?: { code?: string; httpStatus?: number } } } }).error?.json?.data;
    if (!data?.code || !TYPED.test(data.code) || !(data.httpStatus! >= 400 && data.httpStatus! < 500))
      return `untyped error: ${ans.text.slice(0, 200)}`;
  }
  return null;
}

describe.each(BACKENDS)('hostile input against the %s backend', (backend) => {
  let server: TestServer;
  let world: World;
  let sent = 0;
  beforeAll(async () => {
    server = await startTestServer({ backend, env: { COFFER_RATE_LIMIT_PER_MINUTE: '0', COFFER_RATE_LIMIT_ANON_PER_MINUTE: '0' } });
    world = await buildWorld(server);
  });
  afterAll(async () => {
    console.info(`[hostile-input ${backend}] ${sent} requests sent; every answer was data or a typed 4xx, none leaked the victim tenant`);
    await server?.close();
  });

  /** Who may call a procedure: the attacker's tenant key, or the operator token for operator procedures. */
  async function principalOf(path: string, type: CallType): Promise<'tenant' | 'admin'> {
    const ans = await sendCall(server.url, world.attacker.key, path, type, undefined);
    return /admin token required/.test(ans.text) ? 'admin' : 'tenant';
  }

  it('answers generated inputs to every procedure with typed 4xx or data, never 500, never another tenant’s data', async () => {
    for (const [path, proc] of procedures) {
      const type = proc._def.type;
      let principal = await principalOf(path, type);
      // Operator jobs with effects beyond this test's tenants (cleanup, bucket rules) are only hit unauthorised.
      if (principal === 'admin' && type === 'mutation' && !path.startsWith('admin.')) principal = 'tenant';
      const token = principal === 'admin' ? server.adminToken : world.attacker.key;
      const value = hostileValue({
        victimIds: principal === 'tenant' ? world.victimIds : [],
        ownIds: world.attackerIds,
        forged: world.forged,
        hugeLength: type === 'mutation' ? 200_000 : 3_000,
      });
      const input = hostileInput(seedsFor(world, path), fieldsOf(proc), value);
      const runs = type === 'subscription' ? Math.ceil(RUNS / 2) : RUNS;
      await fc.assert(
        fc.asyncProperty(fc.array(input, { minLength: 4, maxLength: 12 }), async (inputs) => {
          const answers = await Promise.all(inputs.map((i) => sendCall(server.url, token, path, type, i)));
          sent += answers.length;
          for (const ans of answers) {
            const why = problem(ans, world, principal === 'tenant');
            if (why) throw new Error(`${path}: ${why}`);
          }
        }),
        { numRuns: runs, seed: SEED, endOnFailure: true },
      );
    }
  }, 180_000);

  it('answers malformed bodies, query strings and batches with typed 4xx', async () => {
    const paths = procedures.map(([p]) => p);
    const call = fc.record({
      path: fc.constantFrom(...paths),
      body: malformedBodies,
      batch: fc.boolean(),
      get: fc.boolean(),
      auth: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 4, maxLength: 12 }), async (calls) => {
        const answers = await Promise.all(
          calls.map(({ path, body, batch, get, auth }) => {
            const headers: Record<string, string> = auth ? { authorization: `Bearer ${world.attacker.key}` } : {};
            const route = batch ? `${path},${path}?batch=1` : path;
            if (get && body.length < 4000)
              // A GET of a subscription whose input parses is an SSE stream: read it briefly.
              return send(`${server.url}/trpc/${route}${batch ? '&' : '?'}input=${percentEncode(body)}`, { headers }, true);
            return send(`${server.url}/trpc/${route}`, {
              method: 'POST',
              headers: { ...headers, 'content-type': 'application/json' },
              body,
            });
          }),
        );
        sent += answers.length;
        for (const ans of answers) {
          const why = problem(ans, world, true);
          if (why) throw new Error(why);
        }
      }),
      { numRuns: RUNS * 4, seed: SEED, endOnFailure: true },
    );
    expect(Object.keys(Object.prototype)).toEqual([]); // no prototype pollution through superjson metadata
  }, 120_000);

  it('survives the nastiest cases written by hand', async () => {
    const key = world.attacker.key;
    const cases: Array<[string, CallType, unknown]> = [
      ['artifact.list', 'query', { cursor: world.forged[0], limit: 100 }],
      ['artifact.list', 'query', { entityId: world.victimIds[0], limit: 100 }],
      ['artifact.onEvent', 'subscription', { lastEventId: '0' }],
      ['artifact.onEvent', 'subscription', { lastEventId: world.victimEventId, artifactId: world.victimIds[0] }],
      ['artifact.getDownloadUrl', 'query', { id: world.victimIds[0], expiresIn: Number.MAX_SAFE_INTEGER }],
      [
        'artifact.createUpload',
        'mutation',
        { kind: 'attachment', contentType: 'application/json', sizeBytes: -1, sha256: 'a'.repeat(64), filename: '../../x' },
      ],
      [
        'artifact.createUpload',
        'mutation',
        { kind: 'attachment', contentType: 'application/json', sizeBytes: 1e300, sha256: 'a'.repeat(64) },
      ],
      ['artifact.put', 'mutation', { kind: '../../etc', payload: { a: '\uD800' }, metadata: { '\u0000': 1 } }],
      ['artifact.put', 'mutation', { kind: 'attachment', payload: 'x'.repeat(200), contentType: 'application/json; x="\r\n"' }],
      ['artifact.completeUpload', 'mutation', { id: world.victimIds[0], parts: [{ partNumber: 1, etag: '"x"' }] }],
      ['version.create', 'mutation', { projectId: '../victim', source: 'manual' }],
      ['version.list', 'query', { projectId: world.victimProject, limit: 100 }],
      ['version.exportLatest', 'query', { projectId: world.victimProject }],
      [
        'version.putDiffPack',
        'mutation',
        { fromVersionId: world.victimIds[1], toVersionId: world.attackerIds[0], sizeBytes: 1, sha256: 'a'.repeat(64) },
      ],
      ['key.revoke', 'mutation', { keyId: world.victimKeyId }],
      ['key.rotate', 'mutation', { keyId: world.victimKeyId, graceSeconds: 0 }],
    ];
    for (const [path, type, input] of cases) {
      const ans = await sendCall(server.url, key, path, type, input);
      sent++;
      expect(problem(ans, world, true), `${path} ${JSON.stringify(input).slice(0, 100)}`).toBeNull();
    }
    // A query URL over Node's 16 KiB header limit is refused by the HTTP parser itself (431), before any code of ours.
    const long = await sendCall(server.url, key, 'artifact.list', 'query', { entityId: 'x'.repeat(20_000) });
    expect(long.status).toBe(431);
  });

  it('leaves the victim’s data intact and no ready row without its object', async () => {
    const v = world.victim.client;
    await expect(v.artifact.get.query({ id: world.victimIds[0]! })).resolves.toMatchObject({ payload: { marker: world.marker } });
    const keys = await server.admin.admin.listApiKeys.query({ tenantId: world.victim.tenantId });
    expect(keys.items.every((k) => k.revokedAt === null && k.expiresAt === null)).toBe(true);
    expect((await v.version.list.query({ projectId: world.victimProject })).items).toHaveLength(2);
    const ready = await server.systemDb
      .select()
      .from(artifacts)
      .where(and(inArray(artifacts.tenantId, [world.victim.tenantId, world.attacker.tenantId]), eq(artifacts.status, 'ready')));
    for (const row of ready) expect(await server.deps.storage.head(row.storageKey), row.id).not.toBeNull();
    expect(ready.length).toBeGreaterThan(2);
  });
});
