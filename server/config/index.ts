import { z } from 'zod';
import { describeZodError } from '../../shared/zod-issues.ts';
import { type Env, envSchema } from './env.ts';
import { DEFAULT_QUOTAS, mergeQuotas, type Quota } from './quotas.ts';
import { DEFAULT_POLICY, mergePolicy, type RetentionPolicy } from './retention.ts';

export type { Env } from './env.ts';
export type { Quota } from './quotas.ts';

export type StorageConfig =
  | {
      kind: 's3';
      endpoint?: string;
      /** Where signed URLs point, when clients reach the bucket elsewhere than `endpoint`. */
      publicEndpoint?: string;
      region: string;
      bucket: string;
      accessKeyId: string;
      secretAccessKey: string;
      forcePathStyle: boolean;
    }
  | { kind: 'fs'; root: string };

export interface Limits {
  maxInlineBytes: number;
  maxUploadBytes: number;
  warnUploadBytes: number;
  partSize: number;
  /** Seconds a part's upload URL lives. */
  uploadUrlExpiry: number;
  /** Seconds an upload may sit without activity before stale-uploads fails it. */
  uploadIdleTimeout: number;
  downloadUrlExpiry: number;
  /** Payload bytes one batch of artifact.get may return (server/limits/read-budget.ts). */
  maxBatchReadBytes: number;
  metadata: MetadataLimits;
}

/** What one artifact's metadata may hold (server/services/metadata.ts). */
export interface MetadataLimits {
  maxBytes: number;
  maxDepth: number;
  maxKeys: number;
}

/** Abuse limits, enforced per instance (server/limits). */
export interface GuardConfig {
  trustProxy: boolean | string[];
  ratePerMinute: number;
  anonRatePerMinute: number;
  maxSubscriptionsPerKey: number;
  maxBatchSize: number;
  wsAuthTimeoutSeconds: number;
  wsMaxMessageBytes: number;
  bodyTimeoutSeconds: number;
  idleTimeoutSeconds: number;
  /** 0: unlimited. */
  maxConnectionsPerAddress: number;
}

export interface Config {
  /** The owner's URL (migrations); null: start the embedded PostgreSQL under dataDir. */
  databaseUrl: string | null;
  /** The roles' own logins; unset, Coffer gives the roles logins itself (server/db/roles.ts). */
  databaseRoleUrls: { app?: string; system?: string };
  storage: StorageConfig;
  dataDir: string;
  publicUrl?: string;
  port: number;
  host: string;
  adminToken?: string;
  /** Bearer token /metrics asks for; unset, /metrics is open (rate-limited per address like /healthz). */
  metricsToken?: string;
  signingSecret?: string;
  allowedKinds: string[];
  limits: Limits;
  /** Storage quotas per plan (a tenant's own override is in its row). */
  quotas: Record<string, Quota>;
  guards: GuardConfig;
  logLevel: Env['LOG_LEVEL'];
  lifecycle: LifecycleConfig;
}

/** The cleanup jobs' settings (server/lifecycle/). */
export interface LifecycleConfig {
  policy: RetentionPolicy;
  /** When the daily cleanup runs (UTC); null: never on its own, only on demand. */
  schedule: { hour: number; minute: number } | null;
  orphanGraceHours: number;
  /** Events older than this are pruned; a client resuming from an older id misses what was pruned. */
  eventRetentionDays: number;
  prices: { storageGbMonth: number; classAPerMillion: number; classBPerMillion: number; egressGb: number };
  costAlertUsd: number;
}

/**
 * Parses the environment; throws one Error that names every bad variable. The result is frozen:
 * nothing changes configuration after start (secrets generated on first start are merged in by
 * withSecrets, which returns a new frozen object).
 */
export function loadConfig(source: Record<string, string | undefined> = process.env): Readonly<Config> {
  const raw = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) throw invalid(describeZodError(z.flattenError(parsed.error)));
  const { COFFER_MAX_BATCH_READ_BYTES: readBudget, COFFER_MAX_INLINE_BYTES: inline } = parsed.data;
  if (readBudget < inline) {
    throw invalid([
      `COFFER_MAX_BATCH_READ_BYTES: must be at least COFFER_MAX_INLINE_BYTES (${inline}), or the largest payload could not be read`,
    ]);
  }
  return deepFreeze(fromEnv(parsed.data));
}

/** Fills the secrets the environment did not set from the generated ones (server/secrets.ts). */
export function withSecrets(
  config: Config,
  secrets: { adminToken: string; signingSecret: string },
): Readonly<Config & { adminToken: string; signingSecret: string }> {
  return deepFreeze({
    ...structuredClone(config),
    adminToken: config.adminToken ?? secrets.adminToken,
    signingSecret: config.signingSecret ?? secrets.signingSecret,
  });
}

const invalid = (lines: string[]) => new Error(`Invalid configuration:\n${lines.map((l) => `  ${l}`).join('\n')}`);

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function fromEnv(env: Env): Config {
  return {
    databaseUrl: env.DATABASE_URL ?? null,
    databaseRoleUrls: { app: env.DATABASE_APP_URL, system: env.DATABASE_SYSTEM_URL },
    storage: storageConfig(env),
    dataDir: env.COFFER_DATA_DIR,
    publicUrl: env.COFFER_PUBLIC_URL,
    port: env.PORT,
    host: env.HOST,
    adminToken: env.COFFER_ADMIN_TOKEN,
    metricsToken: env.COFFER_METRICS_TOKEN,
    signingSecret: env.COFFER_SIGNING_SECRET,
    allowedKinds: env.COFFER_ALLOWED_KINDS,
    limits: {
      maxInlineBytes: env.COFFER_MAX_INLINE_BYTES,
      maxUploadBytes: env.COFFER_MAX_UPLOAD_BYTES,
      warnUploadBytes: env.COFFER_WARN_UPLOAD_BYTES,
      partSize: env.COFFER_PART_SIZE,
      uploadUrlExpiry: env.COFFER_UPLOAD_URL_EXPIRY,
      uploadIdleTimeout: env.COFFER_UPLOAD_IDLE_TIMEOUT,
      downloadUrlExpiry: env.COFFER_DOWNLOAD_URL_EXPIRY,
      maxBatchReadBytes: env.COFFER_MAX_BATCH_READ_BYTES,
      metadata: {
        maxBytes: env.COFFER_MAX_METADATA_BYTES,
        maxDepth: env.COFFER_MAX_METADATA_DEPTH,
        maxKeys: env.COFFER_MAX_METADATA_KEYS,
      },
    },
    quotas: mergeQuotas(DEFAULT_QUOTAS, env.COFFER_QUOTAS),
    guards: {
      trustProxy: env.COFFER_TRUST_PROXY,
      ratePerMinute: env.COFFER_RATE_LIMIT_PER_MINUTE,
      anonRatePerMinute: env.COFFER_RATE_LIMIT_ANON_PER_MINUTE,
      maxSubscriptionsPerKey: env.COFFER_MAX_SUBSCRIPTIONS_PER_KEY,
      maxBatchSize: env.COFFER_MAX_BATCH_SIZE,
      wsAuthTimeoutSeconds: env.COFFER_WS_AUTH_TIMEOUT_SECONDS,
      wsMaxMessageBytes: env.COFFER_WS_MAX_MESSAGE_BYTES,
      bodyTimeoutSeconds: env.COFFER_BODY_TIMEOUT_SECONDS,
      idleTimeoutSeconds: env.COFFER_IDLE_TIMEOUT_SECONDS,
      maxConnectionsPerAddress: env.COFFER_MAX_CONNECTIONS_PER_ADDRESS,
    },
    logLevel: env.LOG_LEVEL,
    lifecycle: {
      policy: mergePolicy(DEFAULT_POLICY, env.COFFER_RETENTION_POLICY),
      schedule: env.COFFER_CLEANUP_SCHEDULE,
      orphanGraceHours: env.COFFER_ORPHAN_GRACE_HOURS,
      eventRetentionDays: env.COFFER_EVENT_RETENTION_DAYS,
      prices: {
        storageGbMonth: env.COFFER_PRICE_STORAGE_GB_MONTH,
        classAPerMillion: env.COFFER_PRICE_CLASS_A_PER_MILLION,
        classBPerMillion: env.COFFER_PRICE_CLASS_B_PER_MILLION,
        egressGb: env.COFFER_PRICE_EGRESS_GB,
      },
      costAlertUsd: env.COFFER_COST_ALERT_USD,
    },
  };
}

function storageConfig(env: Env): StorageConfig {
  const wantS3 = env.COFFER_STORAGE === 's3' || (env.COFFER_STORAGE === undefined && (env.S3_BUCKET || env.R2_ACCOUNT_ID));
  if (!wantS3) return { kind: 'fs', root: `${env.COFFER_DATA_DIR}/objects` };
  const missing = (['S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const).filter((k) => !env[k]);
  if (missing.length) {
    throw invalid(missing.map((k) => `${k}: required when COFFER_STORAGE=s3`));
  }
  const endpoint = env.S3_ENDPOINT ?? (env.R2_ACCOUNT_ID ? `https://${env.R2_ACCOUNT_ID}.r2.cloudflarestorage.com` : undefined);
  return {
    kind: 's3',
    endpoint,
    publicEndpoint: env.S3_PUBLIC_ENDPOINT,
    region: env.S3_REGION,
    bucket: env.S3_BUCKET!,
    accessKeyId: env.S3_ACCESS_KEY_ID!,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY!,
    // Custom endpoints (MinIO, Ceph, s3rver) usually only speak path-style; R2 and AWS do both.
    forcePathStyle: env.S3_FORCE_PATH_STYLE ?? (endpoint !== undefined && !env.R2_ACCOUNT_ID),
  };
}
