import { z } from 'zod';
import { DEFAULT_LIST_LIMIT } from '../constants.ts';
import { cursorSchema, limitSchema } from './common.ts';

/** A project as callers see it. Projects are created by their first version, never explicitly. */
export const projectSchema = z.object({
  id: z.string(),
  /** The version the last rollback made current; null until the first rollback. */
  currentVersionId: z.uuid().nullable(),
  createdAt: z.date(),
});
export type Project = z.infer<typeof projectSchema>;

export const listProjectsInput = z
  .object({ limit: limitSchema, cursor: cursorSchema.optional() })
  // Optional as a whole, so `listProjects.query()` works without an argument.
  .default({ limit: DEFAULT_LIST_LIMIT });
export type ListProjectsInput = z.infer<typeof listProjectsInput>;
export const listProjectsOutput = z.object({ items: z.array(projectSchema), nextCursor: z.string().nullable() });
