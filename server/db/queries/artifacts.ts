import { and, desc, eq, ne, type SQL, sql } from 'drizzle-orm';
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

export interface SetArtifactStatusParams {
  tenantId: string;
  id: string;
  status: ArtifactStatus;
  /** Only move from this status: guards against two completions racing. */
  from?: ArtifactStatus;
  failureReason?: string | null;
  /** Records a checksum declared at completion, together with the status it was verified for. */
  sha256?: string;
  now: Date;
}

export async function setArtifactStatus(db: DbOrTx, p: SetArtifactStatusParams): Promise<ArtifactRow | undefined> {
  const where = [eq(artifacts.tenantId, p.tenantId), eq(artifacts.id, p.id)];
  if (p.from) where.push(eq(artifacts.status, p.from));
  const [row] = await db
    .update(artifacts)
    .set({ status: p.status, failureReason: p.failureReason ?? null, updatedAt: p.now, ...(p.sha256 ? { sha256: p.sha256 } : {}) })
    .where(and(...where))
    .returning();
  return row;
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
