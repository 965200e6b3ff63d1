import { randomUUID } from 'node:crypto';
import { diffPackKey } from '../../shared/keys.ts';
import type { PutDiffPackInput } from '../../shared/schemas/version.ts';
import type { Tx } from '../db/index.ts';
import { deleteArtifactRow } from '../db/queries/artifacts.ts';
import * as q from '../db/queries/diff-packs.ts';
import { isUniqueViolation } from '../db/unique-violation.ts';
import type { Deps } from '../deps.ts';
import { CofferError, notFound } from '../errors.ts';
import { appendEvent } from '../events/append.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { presignDownload } from './artifacts.ts';
import { createUpload } from './uploads.ts';
import { loadVersion } from './versions.ts';

type Pair = { fromVersionId: string; toVersionId: string };

const conflict = (artifactId: string) =>
  new CofferError(
    'CONFLICT',
    `a diff pack for these versions already exists (artifact ${artifactId}); a pending one can be aborted with artifact.abortUpload and put again`,
  );

/** Both versions must be this tenant's and of one project: the pack's key lives under that project. */
async function projectOfPair(tenant: TenantScope, p: Pair): Promise<string> {
  if (p.fromVersionId === p.toVersionId) throw new CofferError('BAD_INPUT', 'fromVersionId and toVersionId must differ');
  const [from, to] = await tenant.run(async (tx) => [
    await loadVersion(tx, tenant.id, p.fromVersionId),
    await loadVersion(tx, tenant.id, p.toVersionId),
  ]);
  if (from.version.projectId !== to.version.projectId) {
    throw new CofferError(
      'BAD_INPUT',
      `the versions belong to different projects ('${from.version.projectId}', '${to.version.projectId}'); a diff pack links two versions of one project`,
    );
  }
  return from.version.projectId;
}

/**
 * Starts the upload of a diff pack between two versions. A pair has one pack: putting it again
 * is CONFLICT, unless the earlier upload failed, in which case the failed one is replaced.
 */
export async function putDiffPack(deps: Deps, tenant: TenantScope, input: PutDiffPackInput) {
  const { fromVersionId, toVersionId } = input;
  const projectId = await projectOfPair(tenant, input);
  const pair = { tenantId: tenant.id, fromVersionId, toVersionId };
  const existing = await tenant.run((tx) => q.findDiffPack(tx, pair));
  if (existing && existing.artifact.status !== 'failed') throw conflict(existing.artifact.id); // before any storage work
  try {
    const created = await createUpload(
      deps,
      tenant,
      {
        kind: 'diff_pack',
        contentType: 'application/zip',
        sizeBytes: input.sizeBytes,
        sha256: input.sha256,
        filename: `${projectId}-${fromVersionId}_to_${toVersionId}.pack.zip`,
        storageKey: (artifactId) => diffPackKey({ tenantId: tenant.id, projectId, fromVersionId, toVersionId, artifactId }),
        projectId,
        metadata: { fromVersionId, toVersionId },
      },
      (tx, row) => link(tx, { ...pair, projectId, artifactId: row.id }),
    );
    const { extra: diffPack, ...upload } = created;
    return { diffPack: toDiffPack(diffPack), ...upload };
  } catch (err) {
    if (!isUniqueViolation(err, 'diff_packs_pair_uq')) throw err;
    const winner = await tenant.run((tx) => q.findDiffPack(tx, pair));
    throw conflict(winner?.artifact.id ?? 'unknown');
  }
}

/**
 * Writes the pack row. A failed earlier pack is replaced: its artifact row goes (its bytes went
 * when it failed; its key is its own, so nothing of the new pack is touched) together with its
 * pack row, so the pair has one pack again.
 */
async function link(tx: Tx, p: q.VersionPair & { projectId: string; artifactId: string }): Promise<q.DiffPackRow> {
  const old = await q.findDiffPack(tx, p);
  if (old && old.artifact.status !== 'failed') throw conflict(old.artifact.id);
  if (old) await deleteArtifactRow(tx, { tenantId: p.tenantId, id: old.artifact.id }); // cascades to the pack row
  const row = await q.insertDiffPack(tx, { id: randomUUID(), ...p });
  if (old) {
    await appendEvent(tx, p.tenantId, {
      type: 'artifact_deleted',
      artifactId: old.artifact.id,
      projectId: p.projectId,
      data: { kind: 'diff_pack' },
    });
  }
  return row;
}

function toDiffPack(row: q.DiffPackRow) {
  const { tenantId: _t, ...rest } = row;
  return rest;
}

/** A ready pack's download; a missing, pending or failed one is NOT_FOUND. */
export async function getDiffPack(deps: Deps, tenant: TenantScope, input: Pair & { expiresIn?: number }) {
  const found = await tenant.read((tx) => q.findDiffPack(tx, { tenantId: tenant.id, ...input }));
  if (found?.artifact.status !== 'ready') throw notFound('diff pack');
  const a = found.artifact;
  const filename = a.filename ?? `${input.fromVersionId}_to_${input.toVersionId}.pack.zip`;
  const { url, expiresAt } = await presignDownload(deps, a, filename, input.expiresIn);
  return { url, expiresAt, filename, sizeBytes: a.sizeBytes, sha256: a.sha256 };
}
