import { randomUUID } from 'node:crypto';
import { withSystem } from '../../server/db/index.ts';
import { artifacts, projects, versions } from '../../server/db/schema/index.ts';
import type { Deps } from '../../server/deps.ts';
import type { Storage } from '../../server/storage/types.ts';
import { artifactKey, snapshotKey } from '../../shared/keys.ts';

export const DAY = 24 * 60 * 60 * 1000;

/** Runs `fn` over `items`, `n` at a time: hundreds of small puts without hundreds of sockets. */
export async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const body = (s: string) => Buffer.from(s, 'utf8');

/**
 * Rows go in through withSystem: the seed writes as the lifecycle would find them, any tenant.
 *
 * A project with one version a day, each with a ready snapshot: rows inserted directly and real
 * (tiny) objects written through the storage, which is what version.create + upload would leave.
 */
export async function seedDailyVersions(deps: Deps, p: { tenantId: string; projectId: string; days: number; now: Date }) {
  await withSystem(deps.systemDb, (tx) =>
    tx.insert(projects).values({ tenantId: p.tenantId, id: p.projectId, createdAt: new Date(p.now.getTime() - p.days * DAY) }),
  );
  const rows = Array.from({ length: p.days }, (_, i) => {
    const versionId = randomUUID();
    const createdAt = new Date(p.now.getTime() - (p.days - i) * DAY);
    const artifactId = randomUUID();
    const storageKey = snapshotKey({ tenantId: p.tenantId, projectId: p.projectId, versionId, artifactId });
    return { i, versionId, artifactId, createdAt, storageKey, bytes: body(`snapshot ${i}`) };
  });
  await withSystem(deps.systemDb, (tx) =>
    tx.insert(artifacts).values(
      rows.map((r) => ({
        id: r.artifactId,
        tenantId: p.tenantId,
        kind: 'build_snapshot',
        projectId: p.projectId,
        versionId: r.versionId,
        storageKey: r.storageKey,
        contentType: 'application/zip',
        sizeBytes: r.bytes.length,
        sha256: '0'.repeat(64),
        status: 'ready' as const,
        createdAt: r.createdAt,
        updatedAt: r.createdAt,
      })),
    ),
  );
  await withSystem(deps.systemDb, (tx) =>
    tx.insert(versions).values(
      rows.map((r) => ({
        id: r.versionId,
        tenantId: p.tenantId,
        projectId: p.projectId,
        source: 'build' as const,
        snapshotArtifactId: r.artifactId,
        createdAt: r.createdAt,
      })),
    ),
  );
  await pool(rows, 16, (r) => deps.storage.put(r.storageKey, r.bytes, { contentType: 'application/zip', contentLength: r.bytes.length }));
  return rows;
}

/** Ready tenant artifacts of `kind` created `ageDays` ago, with their objects. */
export async function seedArtifacts(deps: Deps, p: { tenantId: string; kind: string; count: number; ageDays: number; now: Date }) {
  const at = new Date(p.now.getTime() - p.ageDays * DAY);
  const rows = Array.from({ length: p.count }, (_, i) => {
    const id = randomUUID();
    const bytes = body(JSON.stringify({ i, kind: p.kind }));
    return { id, bytes, storageKey: artifactKey({ tenantId: p.tenantId, kind: p.kind, id, contentType: 'application/json', at }) };
  });
  await withSystem(deps.systemDb, (tx) =>
    tx.insert(artifacts).values(
      rows.map((r) => ({
        id: r.id,
        tenantId: p.tenantId,
        kind: p.kind,
        storageKey: r.storageKey,
        contentType: 'application/json',
        sizeBytes: r.bytes.length,
        sha256: '0'.repeat(64),
        status: 'ready' as const,
        createdAt: at,
        updatedAt: at,
      })),
    ),
  );
  await pool(rows, 16, (r) => deps.storage.put(r.storageKey, r.bytes, { contentType: 'application/json', contentLength: r.bytes.length }));
  return rows;
}

/** Every key under `prefix`, following continuation tokens. */
export async function listAll(storage: Storage, prefix: string) {
  const items = [];
  let continuationToken: string | undefined;
  do {
    const page = await storage.list(prefix, { continuationToken });
    items.push(...page.items);
    continuationToken = page.nextToken;
  } while (continuationToken);
  return items;
}

/**
 * A real storage with some methods replaced: the prototype chain keeps the rest (and keeps
 * `instanceof FsStorage`, which the app checks to mount the disk backend's routes).
 */
export function wrapStorage(real: Storage, overrides: Partial<Storage>): Storage {
  return Object.assign(Object.create(real) as Storage, overrides);
}
