import { and, eq } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../index.ts';
import { artifacts, diffPacks } from '../schema/index.ts';

export type DiffPackRow = typeof diffPacks.$inferSelect;
export type VersionPair = { tenantId: string; fromVersionId: string; toVersionId: string };

export async function insertDiffPack(tx: Tx, row: typeof diffPacks.$inferInsert): Promise<DiffPackRow> {
  const [created] = await tx.insert(diffPacks).values(row).returning();
  return created!;
}

/** The pack of a version pair with its artifact (status, size, where the bytes are). */
export async function findDiffPack(db: DbOrTx, p: VersionPair) {
  const [row] = await db
    .select({ pack: diffPacks, artifact: artifacts })
    .from(diffPacks)
    .innerJoin(artifacts, and(eq(artifacts.tenantId, diffPacks.tenantId), eq(artifacts.id, diffPacks.artifactId)))
    .where(and(eq(diffPacks.tenantId, p.tenantId), eq(diffPacks.fromVersionId, p.fromVersionId), eq(diffPacks.toVersionId, p.toVersionId)))
    .limit(1);
  return row;
}
