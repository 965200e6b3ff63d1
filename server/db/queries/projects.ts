import { and, asc, eq, gt, type SQL } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../index.ts';
import { projects } from '../schema/index.ts';

export type ProjectRow = typeof projects.$inferSelect;

/** Creates the project on its first version; concurrent first versions both succeed. */
export async function upsertProject(tx: Tx, p: { tenantId: string; projectId: string; now: Date }): Promise<void> {
  await tx.insert(projects).values({ tenantId: p.tenantId, id: p.projectId, createdAt: p.now }).onConflictDoNothing();
}

export async function findProject(db: DbOrTx, p: { tenantId: string; projectId: string }): Promise<ProjectRow | undefined> {
  const [row] = await db
    .select()
    .from(projects)
    .where(and(eq(projects.tenantId, p.tenantId), eq(projects.id, p.projectId)))
    .limit(1);
  return row;
}

/** Reads the project and locks its row until commit, so two rollbacks see each other's result. */
export async function lockProject(tx: Tx, p: { tenantId: string; projectId: string }): Promise<ProjectRow | undefined> {
  const [row] = await tx
    .select()
    .from(projects)
    .where(and(eq(projects.tenantId, p.tenantId), eq(projects.id, p.projectId)))
    .for('update');
  return row;
}

export async function setCurrentVersion(tx: Tx, p: { tenantId: string; projectId: string; versionId: string }): Promise<void> {
  await tx
    .update(projects)
    .set({ currentVersionId: p.versionId })
    .where(and(eq(projects.tenantId, p.tenantId), eq(projects.id, p.projectId)));
}

export interface ListProjectsParams {
  tenantId: string;
  limit: number;
  /** The last project id of the previous page. */
  afterId?: string;
}

/** By id, keyset-paginated: the primary key (tenant_id, id) is the index, so no migration is needed. */
export async function listProjects(db: DbOrTx, p: ListProjectsParams): Promise<ProjectRow[]> {
  const where: SQL[] = [eq(projects.tenantId, p.tenantId)];
  if (p.afterId !== undefined) where.push(gt(projects.id, p.afterId));
  return db
    .select()
    .from(projects)
    .where(and(...where))
    .orderBy(asc(projects.id))
    .limit(p.limit);
}
