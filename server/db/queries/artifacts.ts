import { and, desc, eq, inArray, isNull, lt, ne, type SQL, sql } from 'drizzle-orm';
import type { ArtifactStatus } from '../../../shared/constants.ts';
import type { DbOrTx } from '../index.ts';
import { artifacts } from '../schema/index.ts';

export type ArtifactRow = typeof artifacts.$inferSelect;
export type NewArtifactRow = typeof artifacts.$inferInsert;

export async function insertArtifact(db: DbOrTx, row: NewArtifactRow): Promise<ArtifactRow> {
  const [created] = await db.insert(artifacts).values(row).returning();
  return created!;
}

export async function findArtifact(db: DbOrTx, p: { tenantId: string; id: string }): Promise<ArtifactRow | undefined> {
  const [row] = await db
    .select()
    .from(artifacts)
    .where(and(eq(artifacts.tenantId, p.tenantId), eq(artifacts.id, p.id), ne(artifacts.status, 'deleted')))
    .limit(1);
  return row;
}

export interface TransitionParams {
  tenantId: string;
  id: string;
  /** The states the row may leave: a row in any other state does not move. */
  from: readonly ArtifactStatus[];
  to: ArtifactStatus;
  now: Date;
  /** Fencing: only a row whose updated_at is exactly this (the lease a verifier holds). */
  leaseAt?: Date;
  /** Only a row whose updated_at is before this (an expired lease). */
  staleBefore?: Date;
  /** Why, when moving to failed. */
  failureReason?: string;
  /** The checksum declared at completion, recorded with the move. */
  sha256?: string;
}

/**
 * The one way an artifact changes state: a single conditional UPDATE that names the states it
 * leaves (and, for a verifier, its lease). It returns the row only to the caller that moved it,
 * and only that caller may touch the artifact's storage.
 */
export async function transitionArtifact(db: DbOrTx, p: TransitionParams): Promise<ArtifactRow | undefined> {
  const where = [eq(artifacts.tenantId, p.tenantId), eq(artifacts.id, p.id), inArray(artifacts.status, [...p.from])];
  if (p.leaseAt) where.push(eq(artifacts.updatedAt, p.leaseAt));
  if (p.staleBefore) where.push(lt(artifacts.updatedAt, p.staleBefore));
  const [row] = await db
    .update(artifacts)
    .set({
      status: p.to,
      failureReason: p.to === 'failed' ? (p.failureReason ?? null) : null,
      updatedAt: p.now,
      ...(p.sha256 ? { sha256: p.sha256 } : {}),
    })
    .where(and(...where))
    .returning();
  return row;
}

/** Forgets an assembly the backend no longer has (another verifier completed or aborted it), so a new one is started. */
export async function forgetAssembly(db: DbOrTx, p: { tenantId: string; id: string; uploadId: string }): Promise<void> {
  await db
    .update(artifacts)
    .set({ uploadId: null })
    .where(and(eq(artifacts.tenantId, p.tenantId), eq(artifacts.id, p.id), eq(artifacts.uploadId, p.uploadId)));
}

/** Records the server's assembly of an upload, unless another was recorded first or the upload moved on. */
export async function recordAssembly(db: DbOrTx, p: { tenantId: string; id: string; uploadId: string }): Promise<boolean> {
  const rows = await db
    .update(artifacts)
    .set({ uploadId: p.uploadId })
    .where(
      and(
        eq(artifacts.tenantId, p.tenantId),
        eq(artifacts.id, p.id),
        inArray(artifacts.status, ['pending', 'verifying']),
        isNull(artifacts.uploadId),
      ),
    )
    .returning({ id: artifacts.id });
  return rows.length > 0;
}

export async function deleteArtifactRow(db: DbOrTx, p: { tenantId: string; id: string }): Promise<void> {
  await db.delete(artifacts).where(and(eq(artifacts.tenantId, p.tenantId), eq(artifacts.id, p.id)));
}

export interface ListArtifactsParams {
  tenantId: string;
  kind?: string;
  entityType?: string;
  entityId?: string;
  status?: ArtifactStatus;
  limit: number;
  after?: { createdAt: Date; id: string };
}

/** Newest first, keyset-paginated on (created_at, id) so pages stay stable while rows are added. */
export async function listArtifacts(db: DbOrTx, p: ListArtifactsParams): Promise<ArtifactRow[]> {
  const where: SQL[] = [eq(artifacts.tenantId, p.tenantId)];
  where.push(p.status ? eq(artifacts.status, p.status) : ne(artifacts.status, 'deleted'));
  if (p.kind) where.push(eq(artifacts.kind, p.kind));
  if (p.entityType) where.push(eq(artifacts.entityType, p.entityType));
  if (p.entityId) where.push(eq(artifacts.entityId, p.entityId));
  if (p.after) where.push(sql`(${artifacts.createdAt}, ${artifacts.id}) < (${p.after.createdAt.toISOString()}, ${p.after.id})`);
  return db
    .select()
    .from(artifacts)
    .where(and(...where))
    .orderBy(desc(artifacts.createdAt), desc(artifacts.id))
    .limit(p.limit);
}

/** One page of an entity's artifact ids (any status but deleted), by id. */
export async function entityArtifactIds(
  db: DbOrTx,
  p: { tenantId: string; entityType: string; entityId: string; afterId?: string; limit: number },
): Promise<string[]> {
  const where: SQL[] = [
    eq(artifacts.tenantId, p.tenantId),
    eq(artifacts.entityType, p.entityType),
    eq(artifacts.entityId, p.entityId),
    ne(artifacts.status, 'deleted'),
  ];
  if (p.afterId) where.push(sql`${artifacts.id} > ${p.afterId}`);
  const rows = await db
    .select({ id: artifacts.id })
    .from(artifacts)
    .where(and(...where))
    .orderBy(artifacts.id)
    .limit(p.limit);
  return rows.map((r) => r.id);
}
