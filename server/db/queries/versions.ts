import { and, desc, eq, type SQL } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../index.ts';
import { artifacts, projects, versions } from '../schema/index.ts';
import { keysetStart, olderThan } from './keyset.ts';

export type VersionRow = typeof versions.$inferSelect;
export type NewVersionRow = typeof versions.$inferInsert;

/** A version with what its derived fields need: the snapshot artifact and the project's current version. */
export interface VersionView {
  version: VersionRow;
  snapshot: Pick<
    typeof artifacts.$inferSelect,
    'id' | 'status' | 'sizeBytes' | 'sha256' | 'storageKey' | 'contentType' | 'uploadId' | 'failureReason'
  > | null;
  currentVersionId: string | null;
}

function selectViews(db: DbOrTx) {
  return db
    .select({
      version: versions,
      snapshot: {
        id: artifacts.id,
        status: artifacts.status,
        sizeBytes: artifacts.sizeBytes,
        sha256: artifacts.sha256,
        storageKey: artifacts.storageKey,
        contentType: artifacts.contentType,
        uploadId: artifacts.uploadId,
        failureReason: artifacts.failureReason,
      },
      currentVersionId: projects.currentVersionId,
    })
    .from(versions)
    .innerJoin(projects, and(eq(projects.tenantId, versions.tenantId), eq(projects.id, versions.projectId)))
    .leftJoin(artifacts, and(eq(artifacts.tenantId, versions.tenantId), eq(artifacts.id, versions.snapshotArtifactId)));
}

export async function insertVersion(tx: Tx, row: NewVersionRow): Promise<VersionRow> {
  const [created] = await tx.insert(versions).values(row).returning();
  return created!;
}

export async function findVersion(db: DbOrTx, p: { tenantId: string; id: string }): Promise<VersionView | undefined> {
  const [row] = await selectViews(db)
    .where(and(eq(versions.tenantId, p.tenantId), eq(versions.id, p.id)))
    .limit(1);
  return row;
}

export async function findVersionByKey(
  db: DbOrTx,
  p: { tenantId: string; projectId: string; idempotencyKey: string },
): Promise<VersionView | undefined> {
  const [row] = await selectViews(db)
    .where(and(eq(versions.tenantId, p.tenantId), eq(versions.projectId, p.projectId), eq(versions.idempotencyKey, p.idempotencyKey)))
    .limit(1);
  return row;
}

export interface ListVersionsParams {
  tenantId: string;
  projectId: string;
  limit: number;
  after?: { createdAt: Date; id: string };
  /** Only versions whose snapshot is ready. */
  readyOnly?: boolean;
}

/** Newest first, keyset-paginated on (created_at, id), like artifacts. */
export async function listVersions(db: DbOrTx, p: ListVersionsParams): Promise<VersionView[]> {
  const where: SQL[] = [eq(versions.tenantId, p.tenantId), eq(versions.projectId, p.projectId)];
  if (p.readyOnly) where.push(eq(artifacts.status, 'ready'));
  if (p.after) where.push(olderThan(versions.createdAt, versions.id, await keysetStart(db, 'versions', p.after), p.after.id));
  return selectViews(db)
    .where(and(...where))
    .orderBy(desc(versions.createdAt), desc(versions.id))
    .limit(p.limit);
}

export async function setPinned(db: DbOrTx, p: { tenantId: string; id: string; pinned: boolean }): Promise<boolean> {
  const rows = await db
    .update(versions)
    .set({ pinned: p.pinned })
    .where(and(eq(versions.tenantId, p.tenantId), eq(versions.id, p.id)))
    .returning({ id: versions.id });
  return rows.length > 0;
}

/** Locks the version's row for the rest of the transaction: rebuild requests and snapshot swaps on one version queue. */
export async function lockVersion(tx: Tx, p: { tenantId: string; id: string }): Promise<VersionView | undefined> {
  const locked = await tx
    .select({ id: versions.id })
    .from(versions)
    .where(and(eq(versions.tenantId, p.tenantId), eq(versions.id, p.id)))
    .for('update');
  return locked.length ? findVersion(tx, p) : undefined;
}

export async function setRebuildRequested(tx: Tx, p: { tenantId: string; id: string; at: Date }): Promise<void> {
  await tx
    .update(versions)
    .set({ rebuildRequestedAt: p.at })
    .where(and(eq(versions.tenantId, p.tenantId), eq(versions.id, p.id)));
}

/** Points the version at a new snapshot; the rebuild request it answers is done. */
export async function attachSnapshot(tx: Tx, p: { tenantId: string; id: string; artifactId: string }): Promise<void> {
  await tx
    .update(versions)
    .set({ snapshotArtifactId: p.artifactId, rebuildRequestedAt: null })
    .where(and(eq(versions.tenantId, p.tenantId), eq(versions.id, p.id)));
}
