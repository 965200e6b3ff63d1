import { boolean, foreignKey, index, pgTable, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { VERSION_SOURCES } from '../../../shared/schemas/version.ts';
import { artifacts } from './artifacts.ts';
import { projects } from './projects.ts';
import { tenants } from './tenants.ts';

/**
 * A version of a project. Its status is not stored: it is derived from the snapshot artifact's
 * status by a join, so the artifact stays the single source of truth for "ready".
 */
export const versions = pgTable(
  'versions',
  {
    id: uuid().primaryKey(),
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    projectId: text().notNull(),
    prompt: text(),
    message: text(),
    source: text({ enum: VERSION_SOURCES }).notNull(),
    /** Deleting the snapshot artifact leaves the version, now without a snapshot. */
    snapshotArtifactId: uuid().references(() => artifacts.id, { onDelete: 'set null' }),
    pinned: boolean().notNull().default(false),
    /** Set by version.requestRebuild while no snapshot answers it; cleared when a worker attaches one. */
    rebuildRequestedAt: timestamp({ withTimezone: true }),
    /** Retries of `version.create` with the same key return the first version instead of a new one. */
    idempotencyKey: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    foreignKey({ columns: [t.tenantId, t.projectId], foreignColumns: [projects.tenantId, projects.id] }).onDelete('cascade'),
    // NULL keys are distinct in Postgres, so versions created without a key never collide.
    unique('versions_idempotency_key_uq').on(t.tenantId, t.projectId, t.idempotencyKey),
    // Keyset pagination walks (created_at, id) descending within a project.
    index('versions_tenant_project_created_idx').on(t.tenantId, t.projectId, t.createdAt, t.id),
  ],
);
