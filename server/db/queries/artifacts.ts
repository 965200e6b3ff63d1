import { and, eq, getTableColumns, inArray, isNull, ne, type SQL, sql } from 'drizzle-orm';
import type pg from 'pg';
import type { ArtifactStatus } from '../../../shared/constants.ts';
import type { DbOrTx } from '../index.ts';
import { prepared } from '../prepared.ts';
import { artifacts } from '../schema/index.ts';
import { keysetStart } from './keyset.ts';

export type ArtifactRow = typeof artifacts.$inferSelect;
export type NewArtifactRow = typeof artifacts.$inferInsert;

/** Every column an insert may set; a row that leaves a defaulted column out takes the unprepared path. */
const INSERT_COLUMNS = Object.keys(getTableColumns(artifacts)) as Array<keyof NewArtifactRow>;

export async function insertArtifact(db: DbOrTx, row: NewArtifactRow): Promise<ArtifactRow> {
  if (row.createdAt === undefined || row.updatedAt === undefined || row.metadata === undefined) {
    const [created] = await db.insert(artifacts).values(row).returning();
    return created!;
  }
  const values: Record<string, unknown> = {};
  for (const k of INSERT_COLUMNS) values[k] = row[k] ?? null;
  const insert = prepared(db, 'artifacts_insert', (d, name) =>
    d
      .insert(artifacts)
      .values(Object.fromEntries(INSERT_COLUMNS.map((k) => [k, sql.placeholder(k)])) as unknown as NewArtifactRow)
      .returning()
      .prepare(name),
  );
  const [created] = await insert.execute(values);
  return created!;
}

export async function findArtifact(db: DbOrTx, p: { tenantId: string; id: string }): Promise<ArtifactRow | undefined> {
  const find = prepared(db, 'artifacts_find', (d, name) =>
    d
      .select()
      .from(artifacts)
      .where(
        and(eq(artifacts.tenantId, sql.placeholder('tenantId')), eq(artifacts.id, sql.placeholder('id')), ne(artifacts.status, 'deleted')),
      )
      .limit(1)
      .prepare(name),
  );
  const [row] = await find.execute(p);
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
  // One prepared statement per shape (which of the optional conditions and columns it has).
  const shape = `${p.leaseAt ? 'l' : ''}${p.staleBefore ? 's' : ''}${p.sha256 ? 'h' : ''}`;
  const move = prepared(db, `artifacts_transition_${shape}`, (d, name) => {
    const where = [
      eq(artifacts.tenantId, sql.placeholder('tenantId')),
      eq(artifacts.id, sql.placeholder('id')),
      sql`${artifacts.status} = any(${sql.placeholder('from')}::text[])`,
    ];
    // Timestamps as ISO text: a placeholder in a condition skips the column's own encoding.
    if (p.leaseAt) where.push(sql`${artifacts.updatedAt} = ${sql.placeholder('leaseAt')}::timestamptz`);
    if (p.staleBefore) where.push(sql`${artifacts.updatedAt} < ${sql.placeholder('staleBefore')}::timestamptz`);
    return d
      .update(artifacts)
      .set({
        status: sql.placeholder('to'),
        failureReason: sql.placeholder('failureReason'),
        updatedAt: sql.placeholder('now'),
        ...(p.sha256 ? { sha256: sql.placeholder('sha256') } : {}),
      } as unknown as Partial<NewArtifactRow>)
      .where(and(...where))
      .returning()
      .prepare(name);
  });
  const [row] = await move.execute({
    tenantId: p.tenantId,
    id: p.id,
    from: [...p.from],
    to: p.to,
    failureReason: p.to === 'failed' ? (p.failureReason ?? null) : null,
    now: p.now,
    leaseAt: p.leaseAt?.toISOString(),
    staleBefore: p.staleBefore?.toISOString(),
    sha256: p.sha256,
  });
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

/** An artifact as a list shows it: the row less its server-only columns, keys in artifactSchema's order. */
export type ListedArtifact = Omit<ArtifactRow, 'tenantId' | 'storageKey' | 'uploadId' | 'partSize'>;

/** The columns a list sends, in ListedArtifact's order (toListed reads them by position). */
const LISTED_COLUMNS =
  'id, kind, entity_type, entity_id, project_id, version_id, content_type, filename, size_bytes, sha256, status, failure_reason, metadata, created_at, updated_at';

/** The pool or pooled connection under a drizzle Db (drizzle() keeps it as `$client`; the Db type does not say so). */
const pgClientOf = (db: DbOrTx) => (db as unknown as { $client: pg.Pool | pg.PoolClient }).$client;

/** Every column as the text Postgres sent: toListed parses the few that are not text itself. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value };

function toListed(r: Array<string | null>): ListedArtifact {
  return {
    id: r[0]!,
    kind: r[1]!,
    entityType: r[2] ?? null,
    entityId: r[3] ?? null,
    projectId: r[4] ?? null,
    versionId: r[5] ?? null,
    contentType: r[6]!,
    filename: r[7] ?? null,
    sizeBytes: Number(r[8]),
    sha256: r[9]!,
    status: r[10] as ArtifactStatus,
    failureReason: r[11] ?? null,
    metadata: JSON.parse(r[12]!) as Record<string, unknown>,
    createdAt: new Date(r[13]!),
    updatedAt: new Date(r[14]!),
  };
}

/**
 * Newest first, keyset-paginated on (created_at, id) so pages stay stable while rows are added.
 *
 * The hottest read there is (a console or a client walking pages), so it skips drizzle: one named
 * statement per filter shape (each connection parses and plans it once, and a filter never turns
 * into an `is null or` that would spoil the plan), rows as arrays of text, and one object per row
 * built in the shape the caller sends. drizzle's row mapping, the spread that dropped the
 * server-only columns and the columns themselves were a third of a 100-row page's server time.
 */
export async function listArtifacts(db: DbOrTx, p: ListArtifactsParams): Promise<ListedArtifact[]> {
  const values: unknown[] = [p.tenantId];
  const where = ['tenant_id = $1'];
  const filter = (column: string, value: unknown) => {
    values.push(value);
    where.push(`${column} = $${values.length}`);
  };
  if (p.status) filter('status', p.status);
  else where.push(`status <> 'deleted'`);
  if (p.kind) filter('kind', p.kind);
  if (p.entityType) filter('entity_type', p.entityType);
  if (p.entityId) filter('entity_id', p.entityId);
  if (p.after) {
    values.push(await keysetStart(db, 'artifacts', p.after), p.after.id);
    where.push(`(created_at, id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
  }
  values.push(p.limit);
  const shape = `${p.status ? 's' : ''}${p.kind ? 'k' : ''}${p.entityType ? 't' : ''}${p.entityId ? 'e' : ''}${p.after ? 'a' : ''}`;
  const result = await pgClientOf(db).query<Array<string | null>>({
    name: `artifacts_list_${shape}`,
    text: `select ${LISTED_COLUMNS} from artifacts where ${where.join(' and ')} order by created_at desc, id desc limit $${values.length}`,
    values,
    rowMode: 'array',
    types: RAW_TEXT,
  });
  return result.rows.map(toListed);
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
