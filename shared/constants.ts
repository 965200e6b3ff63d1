/** Values both the server and the client rely on. Runtime-safe in browsers (no Node imports). */

export const DEFAULT_KINDS = [
  'chat_transcript',
  'agent_trace',
  'memory_snapshot',
  'tool_call_payload',
  'attachment',
  'workflow_state',
  'build_snapshot',
  'diff_pack',
] as const;

/**
 * pending: waiting for its bytes; verifying: a completion is checking them; ready: verified,
 * served; failed: refused or abandoned (no bytes); deleted: on its way out.
 */
export const ARTIFACT_STATUSES = ['pending', 'verifying', 'ready', 'failed', 'deleted'] as const;
export type ArtifactStatus = (typeof ARTIFACT_STATUSES)[number];

/** read: get, list, download, subscribe. write: put, uploads, versions, rollback. admin: manage the tenant's own keys. */
export const API_KEY_SCOPES = ['read', 'write', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** S3 allows at most 10,000 parts per multipart upload, each at least 5 MiB but the last. */
export const MAX_PARTS = 10_000;
/** Parts one artifact.signParts call signs at most. */
export const MAX_PARTS_PER_SIGN = 100;

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export const DEFAULT_MAX_INLINE_BYTES = 5 * MiB;
export const DEFAULT_DOWNLOAD_EXPIRY_SECONDS = 24 * 60 * 60;
/** S3 and R2 refuse presigned URLs valid for longer than seven days. */
export const MAX_URL_EXPIRY_SECONDS = 7 * 24 * 60 * 60;
export const MAX_LIST_LIMIT = 100;
export const DEFAULT_LIST_LIMIT = 50;

/** Calls per batched HTTP request: the server's default COFFER_MAX_BATCH_SIZE and the client's batch size. */
export const DEFAULT_MAX_BATCH_SIZE = 50;
/** Active (not revoked, not expired) API keys a tenant may hold. */
export const MAX_ACTIVE_KEYS_PER_TENANT = 100;
/** Rotation: the old key keeps working this long by default, and at most MAX. */
export const DEFAULT_KEY_GRACE_SECONDS = 24 * 60 * 60;
export const MAX_KEY_GRACE_SECONDS = 30 * 24 * 60 * 60;
