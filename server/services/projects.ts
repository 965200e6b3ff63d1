import type { ListProjectsInput, Project } from '../../shared/schemas/project.ts';
import { projectIdSchema } from '../../shared/schemas/version.ts';
import * as q from '../db/queries/projects.ts';
import { CofferError } from '../errors.ts';
import type { TenantScope } from '../trpc.ts';

/**
 * Projects page by id, not by age: ids are unique per tenant and the primary key already
 * orders them, so the cursor is just the last id (base64url, to stay opaque like the others).
 */
const encodeCursor = (id: string) => Buffer.from(id).toString('base64url');

function decodeCursor(cursor: string): string {
  const parsed = projectIdSchema.safeParse(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!parsed.success) throw new CofferError('BAD_INPUT', 'invalid cursor: pass the nextCursor of a previous page unchanged');
  return parsed.data;
}

const toProject = (row: q.ProjectRow): Project => ({ id: row.id, currentVersionId: row.currentVersionId, createdAt: row.createdAt });

export function listProjectsPage(tenant: TenantScope, input: ListProjectsInput) {
  const afterId = input.cursor ? decodeCursor(input.cursor) : undefined;
  return tenant.run(async (tx) => {
    const rows = await q.listProjects(tx, { tenantId: tenant.id, limit: input.limit + 1, afterId });
    const page = rows.slice(0, input.limit);
    const last = page.at(-1);
    return { items: page.map(toProject), nextCursor: rows.length > input.limit && last ? encodeCursor(last.id) : null };
  });
}
