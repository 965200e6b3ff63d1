import { pgTable, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { artifacts } from './artifacts.ts';
import { tenants } from './tenants.ts';

/**
 * Links a `diff_pack` artifact to the two versions it bridges. No FK on the version ids on
 * purpose: a cleanup job removes packs whose versions are gone, rather than the database
 * cascading or blocking version removal.
 */
export const diffPacks = pgTable(
  'diff_packs',
  {
    id: uuid().primaryKey(),
    tenantId: uuid()
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    projectId: text().notNull(),
    fromVersionId: uuid().notNull(),
    toVersionId: uuid().notNull(),
    /** Deleting the pack's artifact removes the link, so the pair can be put again. */
    artifactId: uuid()
      .notNull()
      .references(() => artifacts.id, { onDelete: 'cascade' }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [unique('diff_packs_pair_uq').on(t.tenantId, t.fromVersionId, t.toVersionId)],
);
