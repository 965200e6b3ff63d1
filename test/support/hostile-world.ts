import { randomBytes } from 'node:crypto';
import type { CofferClient } from '../../client/src/index.ts';
import type { TestServer } from './server.ts';
import { putBytes, randomBody, sha256 } from './upload.ts';

/**
 * Two tenants for the hostile-input suite. The victim's ids that the attacker is handed
 * (`victimIds`) get thrown at every procedure; `secrets` (a random marker in its payloads,
 * metadata, prompts and project, and ids the attacker never learns) must never come back.
 */
export interface World {
  marker: string;
  victim: { tenantId: string; client: CofferClient };
  victimIds: string[];
  victimKeyId: string;
  victimProject: string;
  victimEventId: string;
  secrets: string[];
  attacker: { tenantId: string; key: string };
  attackerIds: string[];
  /** Attacker-owned ids for seeds: [artifact, pending upload, version, other version, spare key, spare key]. */
  own: { artifact: string; pending: string; version: string; version2: string; spareKey: string; spareKey2: string };
  forged: string[];
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

async function readyVersion(client: CofferClient, projectId: string, prompt: string) {
  const bytes = randomBody(64);
  const { version, upload } = await client.version.create.mutate({
    projectId,
    source: 'build',
    prompt,
    snapshot: { sizeBytes: 64, sha256: sha256(bytes) },
  });
  await putBytes(client, version.snapshotArtifactId!, upload!, bytes);
  await client.artifact.completeUpload.mutate({ id: version.snapshotArtifactId! });
  return version;
}

export async function buildWorld(server: TestServer): Promise<World> {
  const marker = `victim${randomBytes(8).toString('hex')}`;
  const victim = await server.newTenant('victim');
  const v = victim.client;
  const victimProject = `p-${marker}`;
  const art = await v.artifact.put.mutate({
    kind: 'agent_trace',
    payload: { marker },
    entityType: 'chat',
    entityId: marker,
    metadata: { marker },
  });
  const hidden = await v.artifact.put.mutate({ kind: 'chat_transcript', payload: { marker, hidden: true } });
  const ver = await readyVersion(v, victimProject, marker);
  const ver2 = await v.version.create.mutate({ projectId: victimProject, source: 'manual', prompt: marker });
  const pending = await v.artifact.createUpload.mutate({
    kind: 'attachment',
    contentType: 'text/plain',
    sizeBytes: 5,
    sha256: 'b'.repeat(64),
    entityId: marker,
  });
  const { lastEventId: victimEventId } = await v.artifact.eventCursor.query();

  const attackerTenant = await server.newTenant('attacker');
  const mint = (scopes: Array<'read' | 'write' | 'admin'>) =>
    server.admin.admin.createApiKey.mutate({ tenantId: attackerTenant.tenantId, name: 'fuzz', scopes });
  const key = await mint(['read', 'write', 'admin']);
  const [spare, spare2] = [await mint(['read']), await mint(['read'])];
  const a = server.client(key.key);
  const own = await a.artifact.put.mutate({ kind: 'attachment', payload: { mine: true } });
  const ownPending = await a.artifact.createUpload.mutate({
    kind: 'attachment',
    contentType: 'text/plain',
    sizeBytes: 5,
    sha256: 'c'.repeat(64),
  });
  const ownVer = await readyVersion(a, 'b-proj', 'attacker');
  const ownVer2 = await readyVersion(a, 'b-proj', 'attacker 2');

  return {
    marker,
    victim: { tenantId: victim.tenantId, client: v },
    victimIds: [art.id, ver.id, ver2.version.id, pending.artifact.id, victim.tenantId, victim.keyId],
    victimKeyId: victim.keyId,
    victimProject,
    victimEventId,
    secrets: [marker, hidden.id, ver.snapshotArtifactId!],
    attacker: { tenantId: attackerTenant.tenantId, key: key.key },
    attackerIds: [own.id, ownPending.artifact.id, ownVer.id, ownVer2.id, spare.id, attackerTenant.tenantId],
    own: {
      artifact: own.id,
      pending: ownPending.artifact.id,
      version: ownVer.id,
      version2: ownVer2.id,
      spareKey: spare.id,
      spareKey2: spare2.id,
    },
    forged: [
      b64([new Date().toISOString(), art.id]),
      b64([new Date(0).toISOString(), hidden.id]),
      b64('garbage'),
      b64(['2020-01-01T00:00:00.000Z', 'not-a-uuid']),
      b64({ createdAt: 1 }),
      victimEventId,
      '0',
      '999999999999999',
      '-1',
      '1e3',
      '00000000000000000001',
    ],
  };
}

/** A valid input per known procedure, owned by the attacker; unknown procedures start from `{}`. */
export function seedsFor(w: World, path: string): unknown {
  const o = w.own;
  const sha = 'd'.repeat(64);
  const seeds: Record<string, unknown> = {
    'admin.createTenant': { name: 'fuzz' },
    'admin.createApiKey': { tenantId: w.attacker.tenantId, name: 'fuzz', scopes: ['read'] },
    'admin.revokeApiKey': { keyId: o.spareKey2 },
    'admin.rotateApiKey': { keyId: o.spareKey2 },
    'admin.listApiKeys': { tenantId: w.attacker.tenantId },
    'artifact.put': { kind: 'attachment', payload: { b: 1 } },
    'artifact.get': { id: o.artifact },
    'artifact.getInfo': { id: o.artifact },
    'artifact.list': { limit: 10 },
    'artifact.delete': { id: o.pending },
    'artifact.getDownloadUrl': { id: o.artifact, expiresIn: 60 },
    'artifact.createUpload': { kind: 'attachment', contentType: 'application/octet-stream', sizeBytes: 10, sha256: sha },
    'artifact.completeUpload': { id: o.pending },
    'artifact.abortUpload': { id: o.pending },
    'artifact.onEvent': { lastEventId: '0' },
    'version.create': { projectId: 'b-proj', source: 'manual' },
    'version.list': { projectId: 'b-proj' },
    'version.get': { versionId: o.version },
    'version.download': { versionId: o.version },
    'version.exportLatest': { projectId: 'b-proj' },
    'version.rollback': { versionId: o.version },
    'version.pin': { versionId: o.version, pinned: true },
    'version.putDiffPack': { fromVersionId: o.version, toVersionId: o.version2, sizeBytes: 10, sha256: sha },
    'version.getDiffPack': { fromVersionId: o.version, toVersionId: o.version2 },
    'key.list': { limit: 10 },
    'key.create': { name: 'fuzz', scopes: ['read'] },
    'key.rotate': { keyId: o.spareKey },
    'key.revoke': { keyId: o.spareKey },
  };
  return seeds[path] ?? {};
}
