/**
 * The one place that decides where bytes live in the bucket. Keys are posix paths under
 * `tenants/<tenantId>/` so that a tenant's objects can be listed, measured and removed together.
 */

const EXT_BY_TYPE: Record<string, string> = {
  'application/json': 'json',
  'application/zip': 'zip',
  'application/gzip': 'gz',
  'application/octet-stream': 'bin',
  'text/plain': 'txt',
  'text/markdown': 'md',
  'text/html': 'html',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'application/pdf': 'pdf',
};

export function extensionFor(contentType: string): string {
  const base = contentType.split(';')[0]!.trim().toLowerCase();
  return EXT_BY_TYPE[base] ?? 'bin';
}

/** Every object Coffer writes lives under this prefix. */
export const TENANTS_PREFIX = 'tenants/';

export function tenantPrefix(tenantId: string): string {
  return `${TENANTS_PREFIX}${tenantId}/`;
}

/** The tenant whose prefix `key` is under, or null for a key outside the layout. */
export function tenantOfKey(key: string): string | null {
  return /^tenants\/([0-9a-f-]{36})\//.exec(key)?.[1] ?? null;
}

/** `tenants/<tenantId>/<kind>/<YYYY>/<MM>/<DD>/<id>.<ext>`, dated in UTC. */
export function artifactKey(p: { tenantId: string; kind: string; id: string; contentType: string; at: Date }): string {
  const y = p.at.getUTCFullYear();
  const m = String(p.at.getUTCMonth() + 1).padStart(2, '0');
  const d = String(p.at.getUTCDate()).padStart(2, '0');
  return `${tenantPrefix(p.tenantId)}${p.kind}/${y}/${m}/${d}/${p.id}.${extensionFor(p.contentType)}`;
}

/** `tenants/<tenantId>/projects/<projectId>/`: a project's objects, listable and removable together. */
function projectPrefix(p: { tenantId: string; projectId: string }): string {
  return `${tenantPrefix(p.tenantId)}projects/${p.projectId}/`;
}

/**
 * `…/projects/<projectId>/snapshots/<versionId>/<artifactId>.zip`. Every artifact has a key of
 * its own, so nothing written for one artifact (a late upload, a replaced snapshot) can land on
 * another's object.
 */
export function snapshotKey(p: { tenantId: string; projectId: string; versionId: string; artifactId: string }): string {
  return `${projectPrefix(p)}snapshots/${p.versionId}/${p.artifactId}.zip`;
}

/** `…/projects/<projectId>/packs/<from>_to_<to>/<artifactId>.pack.zip`: a replaced pack gets a new key. */
export function diffPackKey(p: {
  tenantId: string;
  projectId: string;
  fromVersionId: string;
  toVersionId: string;
  artifactId: string;
}): string {
  return `${projectPrefix(p)}packs/${p.fromVersionId}_to_${p.toVersionId}/${p.artifactId}.pack.zip`;
}

/**
 * Where the parts of a pending upload land: `uploads/<tenantId>/<artifactId>/`, one object per
 * part (`…/<partNumber>`). Clients write only here, never to an artifact's own key: the server
 * verifies the parts and assembles them into the artifact's object itself. Outside `tenants/` so
 * that one bucket rule or sweep can cover every upload in flight.
 */
export const UPLOADS_PREFIX = 'uploads/';

export function stagingPrefix(p: { tenantId: string; artifactId: string }): string {
  return `${UPLOADS_PREFIX}${p.tenantId}/${p.artifactId}/`;
}

export const partKey = (staging: string, partNumber: number) => `${staging}${partNumber}`;

/** The artifact and part of a staging key, or null for anything else. */
export function parseStagingKey(key: string): { tenantId: string; artifactId: string; partNumber: number } | null {
  const m = /^uploads\/([0-9a-f-]{36})\/([0-9a-f-]{36})\/([1-9]\d{0,4})$/.exec(key);
  return m ? { tenantId: m[1]!, artifactId: m[2]!, partNumber: Number(m[3]) } : null;
}
