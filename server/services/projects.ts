import type { ListProjectsInput, Project } from '../../shared/schemas/project.ts';
import { projectIdSchema } from '../../shared/schemas/version.ts';
import * as q from '../db/queries/projects.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { byTextId, toPage } from './paging.ts';

/** Projects page by id, not by age: ids are unique per tenant and the primary key already orders them. */
const byProjectId = byTextId(projectIdSchema);

const toProject = (row: q.ProjectRow): Project => ({ id: row.id, currentVersionId: row.currentVersionId, createdAt: row.createdAt });

export function listProjectsPage(tenant: TenantScope, input: ListProjectsInput) {
  const afterId = byProjectId.after(input.cursor);
  return tenant.run(async (tx) => {
    const rows = await q.listProjects(tx, { tenantId: tenant.id, limit: input.limit + 1, afterId });
    return toPage(rows, input.limit, toProject, byProjectId.key);
  });
}
