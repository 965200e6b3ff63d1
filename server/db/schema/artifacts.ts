import { bigint, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { ARTIFACT_STATUSES } from '../../../shared/constants.ts';
import { tenants } from './tenants.ts';

export const artifacts = pgTable(
  'artifacts',
  {
    id: uuid().primaryKey(),
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    kind: text().notNull(),
    entityType: text(),
    entityId: text(),
    /** Set for project snapshots and diff packs, so usage and events can be told per project. */
    projectId: text(),
    /** Set for the snapshot of a project version: its becoming ready makes the version ready. */
    versionId: uuid(),
    storageKey: text().notNull(),
    contentType: text().notNull(),
    filename: text(),
    sizeBytes: bigint({ mode: 'number' }).notNull(),
    sha256: text().notNull(),
    status: text({ enum: ARTIFACT_STATUSES }).notNull(),
    /**
     * A direct upload's part size (its plan: parts of this size, the last one smaller); null for
     * artifacts the server wrote itself (artifact.put).
     */
    partSize: integer(),
    /**
     * The backend's assembly of a multi-part upload (an S3 multipart upload on the artifact's own
     * key, written only by the server), while it is in flight.
     */
    uploadId: text(),
    /** Why an artifact is `failed`, in words the caller can act on. */
    failureReason: text(),
    metadata: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    /**
     * The last change. For a pending upload also its last activity (signing parts moves it on: an
     * upload expires when idle, not when old); for a verifying one, the verifier's lease.
     */
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // Keyset pagination walks (created_at, id) descending within a tenant.
    index('artifacts_tenant_kind_created_idx').on(t.tenantId, t.kind, t.createdAt, t.id),
    index('artifacts_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    index('artifacts_tenant_entity_idx').on(t.tenantId, t.entityType, t.entityId),
    index('artifacts_status_updated_idx').on(t.status, t.updatedAt),
    index('artifacts_tenant_project_idx').on(t.tenantId, t.projectId),
    // The orphan sweep asks which listed keys have a row; without this each page is a table scan.
    index('artifacts_storage_key_idx').on(t.storageKey),
  ],
);
