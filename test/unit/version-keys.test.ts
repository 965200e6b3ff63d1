import { describe, expect, it } from 'vitest';
import { diffPackKey, snapshotKey } from '../../shared/keys.ts';
import { projectIdSchema } from '../../shared/schemas/version.ts';

describe('project keys', () => {
  it('lays snapshots and diff packs out under the project', () => {
    expect(snapshotKey({ tenantId: 't1', projectId: 'site.v2', versionId: 'v9', artifactId: 'a1' })).toBe(
      'tenants/t1/projects/site.v2/snapshots/v9/a1.zip',
    );
    expect(diffPackKey({ tenantId: 't1', projectId: 'p', fromVersionId: 'a', toVersionId: 'b', artifactId: 'a2' })).toBe(
      'tenants/t1/projects/p/packs/a_to_b/a2.pack.zip',
    );
  });

  it('accepts only project ids that are safe as one key segment', () => {
    for (const ok of ['a', 'A-1_b.c', 'x'.repeat(128), '9..9']) expect(projectIdSchema.safeParse(ok).success).toBe(true);
    for (const bad of ['', '../x', '..', '.x', '-x', 'a/b', 'a\\b', 'a b', 'x'.repeat(129), 'é'])
      expect(projectIdSchema.safeParse(bad).success).toBe(false);
  });
});
