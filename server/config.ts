import { z } from 'zod';
import {
  DEFAULT_DOWNLOAD_EXPIRY_SECONDS,
  DEFAULT_KINDS,
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_MAX_INLINE_BYTES,
  GiB,
  MAX_URL_EXPIRY_SECONDS,
  MiB,
} from '../shared/constants.ts';
import { type LifecycleConfig, lifecycleConfig, lifecycleEnv } from './lifecycle/config.ts';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number) => z.coerce.number().int().min(min);
/** 'true'/'false' or a list of trusted proxy addresses/CIDRs, as Fastify's trustProxy takes them. */
function trustProxy(s: string): boolean | string[] {
  if (/^(true|false)$/.test(s)) return s === 'true';
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}
const list = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

/**
 * Every setting Coffer reads from the environment. Parsed once at start (`loadConfig`);
 * nothing else reads process.env.
 */
export const envSchema = z.object({
  DATABASE_URL: z.url().optional(),
  COFFER_STORAGE: z.enum(['s3', 'fs']).optional(),
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().min(1).default('auto'),
  S3_BUCKET: z.string().min(3).optional(),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.optional(),
  /** Trust a backend-verified x-amz-checksum-sha256 instead of reading objects back (AWS S3, R2). */
  S3_TRUST_CHECKSUM: bool.default(false),
  R2_ACCOUNT_ID: z
    .string()
    .regex(/^[a-f0-9]{32}$/, 'must be the 32-character Cloudflare account id')
    .optional(),
  COFFER_DATA_DIR: z.string().min(1).default('./.coffer'),
  COFFER_PUBLIC_URL: z.url().optional(),
  PORT: int(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  COFFER_ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  COFFER_SIGNING_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  COFFER_ALLOWED_KINDS: list.pipe(z.array(z.string().regex(/^[a-z][a-z0-9_]{0,62}$/)).min(1)).default([...DEFAULT_KINDS]),
  COFFER_MAX_INLINE_BYTES: int(1).default(DEFAULT_MAX_INLINE_BYTES),
  COFFER_MAX_UPLOAD_BYTES: int(1).default(GiB),
  COFFER_WARN_UPLOAD_BYTES: int(1).default(100 * MiB),
  COFFER_MULTIPART_THRESHOLD: int(5 * MiB).default(64 * MiB),
  COFFER_PART_SIZE: int(5 * MiB).default(16 * MiB),
  COFFER_UPLOAD_URL_EXPIRY: int(60).default(6 * 60 * 60),
  COFFER_DOWNLOAD_URL_EXPIRY: int(1).max(MAX_URL_EXPIRY_SECONDS).default(DEFAULT_DOWNLOAD_EXPIRY_SECONDS),
  /** Events older than this are pruned; a client resuming from an older id misses what was pruned. */
  COFFER_EVENT_RETENTION_DAYS: int(1).default(7),
  /** Fastify's trustProxy: `true` (trust every hop) or comma-separated proxy addresses/CIDRs; then req.ip is the client behind them. */
  COFFER_TRUST_PROXY: z.string().transform(trustProxy).default(false),
  /** Requests per minute per API key, per instance (0: unlimited). */
  COFFER_RATE_LIMIT_PER_MINUTE: int(0).default(1200),
  /** Requests per minute per client address without a valid credential, per instance (0: unlimited). */
  COFFER_RATE_LIMIT_ANON_PER_MINUTE: int(0).default(120),
  COFFER_MAX_SUBSCRIPTIONS_PER_KEY: int(1).default(100),
  /** Calls per batched HTTP request; keep the client's batch size (shared DEFAULT_MAX_BATCH_SIZE) at or below it. */
  COFFER_MAX_BATCH_SIZE: int(1).default(DEFAULT_MAX_BATCH_SIZE),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ...lifecycleEnv,
});

export type Env = z.infer<typeof envSchema>;

export type StorageConfig =
  | {
      kind: 's3';
      endpoint?: string;
      region: string;
      bucket: string;
      accessKeyId: string;
      secretAccessKey: string;
      forcePathStyle: boolean;
      trustChecksum: boolean;
    }
  | { kind: 'fs'; root: string };

export interface Limits {
  maxInlineBytes: number;
  maxUploadBytes: number;
  warnUploadBytes: number;
  multipartThreshold: number;
  partSize: number;
  uploadUrlExpiry: number;
  downloadUrlExpiry: number;
}

/** Abuse limits, enforced per instance (server/limits). */
export interface GuardConfig {
  trustProxy: boolean | string[];
  ratePerMinute: number;
  anonRatePerMinute: number;
  maxSubscriptionsPerKey: number;
  maxBatchSize: number;
}

export interface Config {
  /** null: start the embedded PostgreSQL under dataDir. */
  databaseUrl: string | null;
  storage: StorageConfig;
  dataDir: string;
  publicUrl?: string;
  port: number;
  host: string;
  adminToken?: string;
  signingSecret?: string;
  allowedKinds: string[];
  limits: Limits;
  eventRetentionDays: number;
  guards: GuardConfig;
  logLevel: Env['LOG_LEVEL'];
  /** Retention policy, cleanup schedule, prices: see server/lifecycle/config.ts. */
  lifecycle: LifecycleConfig;
}

/** Parses the environment; throws one Error that names every bad variable. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const raw = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const env = parsed.data;
  return {
    databaseUrl: env.DATABASE_URL ?? null,
    storage: storageConfig(env),
    dataDir: env.COFFER_DATA_DIR,
    publicUrl: env.COFFER_PUBLIC_URL,
    port: env.PORT,
    host: env.HOST,
    adminToken: env.COFFER_ADMIN_TOKEN,
    signingSecret: env.COFFER_SIGNING_SECRET,
    allowedKinds: env.COFFER_ALLOWED_KINDS,
    limits: {
      maxInlineBytes: env.COFFER_MAX_INLINE_BYTES,
      maxUploadBytes: env.COFFER_MAX_UPLOAD_BYTES,
      warnUploadBytes: env.COFFER_WARN_UPLOAD_BYTES,
      multipartThreshold: env.COFFER_MULTIPART_THRESHOLD,
      partSize: env.COFFER_PART_SIZE,
      uploadUrlExpiry: env.COFFER_UPLOAD_URL_EXPIRY,
      downloadUrlExpiry: env.COFFER_DOWNLOAD_URL_EXPIRY,
    },
    eventRetentionDays: env.COFFER_EVENT_RETENTION_DAYS,
    guards: {
      trustProxy: env.COFFER_TRUST_PROXY,
      ratePerMinute: env.COFFER_RATE_LIMIT_PER_MINUTE,
      anonRatePerMinute: env.COFFER_RATE_LIMIT_ANON_PER_MINUTE,
      maxSubscriptionsPerKey: env.COFFER_MAX_SUBSCRIPTIONS_PER_KEY,
      maxBatchSize: env.COFFER_MAX_BATCH_SIZE,
    },
    logLevel: env.LOG_LEVEL,
    lifecycle: lifecycleConfig(env),
  };
}

function storageConfig(env: Env): StorageConfig {
  const wantS3 = env.COFFER_STORAGE === 's3' || (env.COFFER_STORAGE === undefined && (env.S3_BUCKET || env.R2_ACCOUNT_ID));
  if (!wantS3) return { kind: 'fs', root: `${env.COFFER_DATA_DIR}/objects` };
  const missing = (['S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const).filter((k) => !env[k]);
  if (missing.length) {
    throw new Error(`Invalid configuration:\n${missing.map((k) => `  ${k}: required when COFFER_STORAGE=s3`).join('\n')}`);
  }
  const endpoint = env.S3_ENDPOINT ?? (env.R2_ACCOUNT_ID ? `https://${env.R2_ACCOUNT_ID}.r2.cloudflarestorage.com` : undefined);
  return {
    kind: 's3',
    endpoint,
    region: env.S3_REGION,
    bucket: env.S3_BUCKET!,
    accessKeyId: env.S3_ACCESS_KEY_ID!,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY!,
    // Custom endpoints (MinIO, Ceph, s3rver) usually only speak path-style; R2 and AWS do both.
    forcePathStyle: env.S3_FORCE_PATH_STYLE ?? (endpoint !== undefined && !env.R2_ACCOUNT_ID),
    trustChecksum: env.S3_TRUST_CHECKSUM,
  };
}
