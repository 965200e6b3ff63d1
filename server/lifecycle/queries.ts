/**
 * The jobs' cross-tenant reads, and the per-tenant writes they make. The lifecycle's cross-tenant
 * queries live in server/lifecycle/ only (here, and usage.ts's adminUsage; cleanup_runs in runs.ts
 * is not tenant-scoped), and each runs through `withSystem`, past row-level security. Reads of one
 * tenant's rows and every write of a tenant's rows and events go through `withTenant`.
 */
import { and, asc, count, eq, gt, inArray, lt, lte, ne, notExists, type SQL, sql } from 'drizzle-orm';
import type { NewCofferEvent } from '../../shared/schemas/events.ts';
import { type Db, type SystemDb, withSystem, withTenant } from '../db/index.ts';
import { artifacts, diffPacks, events, projects, tenants, versions } from '../db/schema/index.ts';
import { appendEvents } from '../events/append.ts';

/** What a job needs to know of an artifact it may remove. */
export const doomedColumns = {
  id: artifacts.id,
  tenantId: artifacts.tenantId,
  kind: artifacts.kind,
  projectId: artifacts.projectId,
  versionId: artifacts.versionId,
  storageKey: artifacts.storageKey,
  sizeBytes: artifacts.sizeBytes,
  status: artifacts.status,
  uploadId: artifacts.uploadId,
  createdAt: artifacts.createdAt,
};
export type Doomed = Pick<typeof artifacts.$inferSelect, keyof typeof doomedColumns>;
type Status = Doomed['status'];

/** One keyset page of artifacts matching `where`, in id order (stable while rows are removed). */
export function artifactPage(db: SystemDb, p: { where: SQL | undefined; afterId: string | null; limit: number }): Promise<Doomed[]> {
  const where = and(p.where, p.afterId ? gt(artifacts.id, p.afterId) : undefined);
  return withSystem(db, (tx) => tx.select(doomedColumns).from(artifacts).where(where).orderBy(asc(artifacts.id)).limit(p.limit));
}

/** Like artifactPage, with the owner's plan: the TTL depends on it. */
export function artifactPageWithPlan(db: SystemDb, p: { where: SQL | undefined; afterId: string | null; limit: number }) {
  const where = and(p.where, p.afterId ? gt(artifacts.id, p.afterId) : undefined);
  return withSystem(db, (tx) =>
    tx
      .select({ ...doomedColumns, plan: tenants.plan })
      .from(artifacts)
      .innerJoin(tenants, eq(tenants.id, artifacts.tenantId))
      .where(where)
      .orderBy(asc(artifacts.id))
      .limit(p.limit),
  );
}

/** Projects with at least one ready snapshot, keyset-paginated on (tenant, project). */
export async function projectsWithSnapshots(db: SystemDb, p: { after: { tenantId: string; projectId: string } | null; limit: number }) {
  const after = p.after ? sql`(${versions.tenantId}, ${versions.projectId}) > (${p.after.tenantId}, ${p.after.projectId})` : undefined;
  return withSystem(db, (tx) =>
    tx
      .selectDistinct({ tenantId: versions.tenantId, projectId: versions.projectId, plan: tenants.plan })
      .from(versions)
      .innerJoin(artifacts, and(eq(artifacts.tenantId, versions.tenantId), eq(artifacts.id, versions.snapshotArtifactId)))
      .innerJoin(tenants, eq(tenants.id, versions.tenantId))
      .where(and(eq(artifacts.status, 'ready'), after))
      .orderBy(asc(versions.tenantId), asc(versions.projectId))
      .limit(p.limit),
  );
}

/** A project's ready snapshots with what classifySnapshots needs: one tenant's, so withTenant. */
export function readySnapshots(db: Db, p: { tenantId: string; projectId: string }) {
  return withTenant(db, p.tenantId, (tx) =>
    tx
      .select({
        artifact: doomedColumns,
        versionId: versions.id,
        versionCreatedAt: versions.createdAt,
        pinned: versions.pinned,
        currentVersionId: projects.currentVersionId,
      })
      .from(versions)
      .innerJoin(artifacts, and(eq(artifacts.tenantId, versions.tenantId), eq(artifacts.id, versions.snapshotArtifactId)))
      .innerJoin(projects, and(eq(projects.tenantId, versions.tenantId), eq(projects.id, versions.projectId)))
      .where(and(eq(versions.tenantId, p.tenantId), eq(versions.projectId, p.projectId), eq(artifacts.status, 'ready'))),
  );
}

const versionExists = (id: typeof diffPacks.fromVersionId | typeof diffPacks.toVersionId) =>
  sql`exists (select 1 from ${versions} where ${versions.tenantId} = ${diffPacks.tenantId} and ${versions.id} = ${id})`;

/** Diff packs whose from- or to-version is gone (diff_packs has no FK on them by design). */
export function orphanPackPage(db: SystemDb, p: { afterId: string | null; limit: number }): Promise<Doomed[]> {
  return withSystem(db, (tx) =>
    tx
      .select(doomedColumns)
      .from(diffPacks)
      .innerJoin(artifacts, and(eq(artifacts.tenantId, diffPacks.tenantId), eq(artifacts.id, diffPacks.artifactId)))
      .where(
        and(
          ne(artifacts.status, 'deleted'),
          sql`not (${versionExists(diffPacks.fromVersionId)} and ${versionExists(diffPacks.toVersionId)})`,
          p.afterId ? gt(artifacts.id, p.afterId) : undefined,
        ),
      )
      .orderBy(asc(artifacts.id))
      .limit(p.limit),
  );
}

/** Of `keys`, those some live artifact (pending, verifying, ready) still owns; failed and deleted rows own no bytes. */
export async function ownedKeys(db: SystemDb, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await withSystem(db, (tx) =>
    tx
      .selectDistinct({ key: artifacts.storageKey })
      .from(artifacts)
      .where(and(inArray(artifacts.storageKey, keys), inArray(artifacts.status, ['pending', 'verifying', 'ready']))),
  );
  return new Set(rows.map((r) => r.key));
}

/** Of `ids`, the artifacts whose upload is still in flight (pending or verifying): they own their parts. */
export async function uploadsInFlight(db: SystemDb, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await withSystem(db, (tx) =>
    tx
      .select({ id: artifacts.id })
      .from(artifacts)
      .where(and(inArray(artifacts.id, ids), inArray(artifacts.status, ['pending', 'verifying']))),
  );
  return new Set(rows.map((r) => r.id));
}

/** Of `uploadIds`, the assemblies some upload in flight has on record. */
export async function assembliesInFlight(db: SystemDb, uploadIds: string[]): Promise<Set<string>> {
  if (uploadIds.length === 0) return new Set();
  const rows = await withSystem(db, (tx) =>
    tx
      .select({ uploadId: artifacts.uploadId })
      .from(artifacts)
      .where(and(inArray(artifacts.uploadId, uploadIds), inArray(artifacts.status, ['pending', 'verifying']))),
  );
  return new Set(rows.map((r) => r.uploadId!));
}

export async function existingTenants(db: SystemDb, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await withSystem(db, (tx) => tx.select({ id: tenants.id }).from(tenants).where(inArray(tenants.id, ids)));
  return new Set(rows.map((r) => r.id));
}

/**
 * Step one of removing artifacts: marks them `deleted` with an `artifact_deleted` event each, in
 * one transaction. Only rows still in one of `from` move; with `skipPinned` (snapshots), those
 * whose version was pinned since they were classified stay. Returns the rows that moved.
 */
export function markDeleted(
  db: Db,
  p: { tenantId: string; ids: string[]; from: Status[]; now: Date; skipPinned?: boolean },
): Promise<Doomed[]> {
  return withTenant(db, p.tenantId, async (tx) => {
    const pinned = tx
      .select({ one: sql`1` })
      .from(versions)
      .where(and(eq(versions.tenantId, p.tenantId), eq(versions.snapshotArtifactId, artifacts.id), eq(versions.pinned, true)));
    const rows = await tx
      .update(artifacts)
      .set({ status: 'deleted', updatedAt: p.now })
      .where(
        and(
          eq(artifacts.tenantId, p.tenantId),
          inArray(artifacts.id, p.ids),
          inArray(artifacts.status, p.from),
          p.skipPinned ? notExists(pinned) : undefined,
        ),
      )
      .returning(doomedColumns);
    const deleted = rows.map(
      (r): NewCofferEvent => ({
        type: 'artifact_deleted',
        artifactId: r.id,
        projectId: r.projectId,
        versionId: r.versionId,
        data: { kind: r.kind },
      }),
    );
    await appendEvents(tx, p.tenantId, deleted);
    return rows;
  });
}

/** Step three: removes rows already `deleted` whose objects are gone (diff_packs rows cascade). */
export async function removeDeletedRows(db: Db, p: { tenantId: string; ids: string[] }): Promise<void> {
  await withTenant(db, p.tenantId, (tx) =>
    tx.delete(artifacts).where(and(eq(artifacts.tenantId, p.tenantId), inArray(artifacts.id, p.ids), eq(artifacts.status, 'deleted'))),
  );
}

/** pending (or verifying) → failed with an `artifact_failed` event each; returns the rows that were still idle in that state. */
export function markUploadsFailed(
  db: Db,
  p: { tenantId: string; ids: string[]; from: Array<'pending' | 'verifying'>; idleSince: Date; reason: string; now: Date },
): Promise<Doomed[]> {
  return withTenant(db, p.tenantId, async (tx) => {
    const rows = await tx
      .update(artifacts)
      .set({ status: 'failed', failureReason: p.reason, updatedAt: p.now })
      // Still idle now, not only when the page was read: a client may have signed a part since.
      .where(
        and(
          eq(artifacts.tenantId, p.tenantId),
          inArray(artifacts.id, p.ids),
          inArray(artifacts.status, p.from),
          lte(artifacts.updatedAt, p.idleSince),
        ),
      )
      .returning(doomedColumns);
    const failed = rows.map(
      (r): NewCofferEvent => ({
        type: 'artifact_failed',
        artifactId: r.id,
        projectId: r.projectId,
        versionId: r.versionId,
        data: { kind: r.kind, reason: p.reason },
      }),
    );
    await appendEvents(tx, p.tenantId, failed);
    return rows;
  });
}

/** Forgets multipart upload ids once aborted, so the abort is not retried forever. */
export async function clearUploadIds(db: Db, p: { tenantId: string; ids: string[] }): Promise<void> {
  await withTenant(db, p.tenantId, (tx) =>
    tx
      .update(artifacts)
      .set({ uploadId: null })
      .where(and(eq(artifacts.tenantId, p.tenantId), inArray(artifacts.id, p.ids), eq(artifacts.status, 'failed'))),
  );
}

/** How many events were created before `olderThan` (a dry run of the event-log job). */
export async function countEventsBefore(db: SystemDb, olderThan: Date): Promise<number> {
  const [row] = await withSystem(db, (tx) => tx.select({ n: count() }).from(events).where(lt(events.createdAt, olderThan)));
  return row?.n ?? 0;
}

export const cutoff = (now: Date, days: number) => new Date(now.getTime() - days * 24 * 60 * 60 * 1000);
