import { z } from 'zod';
import {
  DEFAULT_DOWNLOAD_EXPIRY_SECONDS,
  DEFAULT_KINDS,
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_MAX_INLINE_BYTES,
  GiB,
  MAX_URL_EXPIRY_SECONDS,
  MiB,
} from '../../shared/constants.ts';
import { MAX_JSON_DEPTH } from '../../shared/wire-json.ts';
import { quotasOverride } from './quotas.ts';
import { retentionPolicyOverride } from './retention.ts';

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

const money = z.coerce.number().min(0);

const json = (example: string) =>
  z.string().transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be JSON, e.g. ${example}` });
      return z.NEVER;
    }
  });

/** Only daily schedules: that is all the jobs need. */
const schedule = z
  .string()
  .regex(/^(off|([0-5]?\d) ([01]?\d|2[0-3]) \* \* \*)$/, "must be a daily cron expression 'M H * * *' (UTC) or 'off'")
  .transform((s) => (s === 'off' ? null : { minute: Number(s.split(' ')[0]), hour: Number(s.split(' ')[1]) }));

/**
 * Every setting Coffer reads from the environment. Parsed once at start (`loadConfig`);
 * nothing else reads process.env.
 */
export const envSchema = z.object({
  DATABASE_URL: z.url().optional(),
  /** Login of the service's role (coffer_app) and of the system role (coffer_system), when an operator created them (README, Security). */
  DATABASE_APP_URL: z.url().optional(),
  DATABASE_SYSTEM_URL: z.url().optional(),
  COFFER_STORAGE: z.enum(['s3', 'fs']).optional(),
  S3_ENDPOINT: z.url().optional(),
  /**
   * Where clients reach the bucket, when not at S3_ENDPOINT (a gateway or proxy in front of it, a
   * container network's inside and outside names): signed URLs point here.
   */
  S3_PUBLIC_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().min(1).default('auto'),
  S3_BUCKET: z.string().min(3).optional(),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.optional(),
  R2_ACCOUNT_ID: z
    .string()
    .regex(/^[a-f0-9]{32}$/, 'must be the 32-character Cloudflare account id')
    .optional(),
  COFFER_DATA_DIR: z.string().min(1).default('./.coffer'),
  COFFER_PUBLIC_URL: z.url().optional(),
  PORT: int(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  COFFER_ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  COFFER_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  COFFER_SIGNING_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  COFFER_ALLOWED_KINDS: list.pipe(z.array(z.string().regex(/^[a-z][a-z0-9_]{0,62}$/)).min(1)).default([...DEFAULT_KINDS]),
  COFFER_MAX_INLINE_BYTES: int(1).default(DEFAULT_MAX_INLINE_BYTES),
  COFFER_MAX_UPLOAD_BYTES: int(1).default(GiB),
  COFFER_WARN_UPLOAD_BYTES: int(1).default(100 * MiB),
  COFFER_PART_SIZE: int(5 * MiB).default(16 * MiB),
  /**
   * Lifetime of a part's upload URL, seconds. Parts are signed just before they are sent, so this
   * only has to cover one part's transfer; S3 and R2 refuse presigned URLs valid for over 7 days.
   */
  COFFER_UPLOAD_URL_EXPIRY: int(1)
    .max(MAX_URL_EXPIRY_SECONDS)
    .default(60 * 60),
  /** An upload with no activity (signing parts, completing) for this many seconds fails. */
  COFFER_UPLOAD_IDLE_TIMEOUT: int(60).default(24 * 60 * 60),
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
  /** Payload bytes the artifact.get calls of one batched request (or in flight on one WebSocket) may return. */
  COFFER_MAX_BATCH_READ_BYTES: int(1).default(16 * MiB),
  /** Metadata size: UTF-8 bytes of its JSON, nesting levels (the object itself is one), object keys at every depth. */
  COFFER_MAX_METADATA_BYTES: int(2).default(16 * 1024),
  COFFER_MAX_METADATA_DEPTH: int(1).max(MAX_JSON_DEPTH).default(10),
  COFFER_MAX_METADATA_KEYS: int(1).default(1000),
  /** A WebSocket without a valid credential is closed this long after it opens. */
  COFFER_WS_AUTH_TIMEOUT_SECONDS: int(1).default(10),
  /** Largest WebSocket message: a reconnecting client resends up to COFFER_MAX_SUBSCRIPTIONS_PER_KEY subscriptions in one. */
  COFFER_WS_MAX_MESSAGE_BYTES: int(1024).default(MiB),
  /** A /trpc request body must arrive completely within this long of its head. */
  COFFER_BODY_TIMEOUT_SECONDS: int(1).default(60),
  /** A connection must send a complete request head within this long of opening (and of each request's start). */
  COFFER_IDLE_TIMEOUT_SECONDS: int(1).default(30),
  /** Open TCP connections per client address (0: unlimited); behind a proxy this counts the proxy's. */
  COFFER_MAX_CONNECTIONS_PER_ADDRESS: int(0).default(128),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** JSON merged over DEFAULT_POLICY (server/config/retention.ts), field by field. */
  COFFER_RETENTION_POLICY: json('{"artifactTtlDays":{"free":{"*":30}}}').pipe(retentionPolicyOverride).optional(),
  /** JSON merged over DEFAULT_QUOTAS (server/config/quotas.ts), plan by plan; null is no limit. */
  COFFER_QUOTAS: json('{"free":{"bytes":5000000000,"objects":null}}').pipe(quotasOverride).optional(),
  /** A daily cron expression `M H * * *` (UTC), or `off`: when the cleanup jobs run. */
  COFFER_CLEANUP_SCHEDULE: schedule.default({ minute: 0, hour: 3 }),
  COFFER_ORPHAN_GRACE_HOURS: z.coerce.number().min(0).default(24),
  // Cloudflare R2's list prices (2025): storage per GB-month, class A (writes) and B (reads) per million, egress free.
  COFFER_PRICE_STORAGE_GB_MONTH: money.default(0.015),
  COFFER_PRICE_CLASS_A_PER_MILLION: money.default(4.5),
  COFFER_PRICE_CLASS_B_PER_MILLION: money.default(0.36),
  COFFER_PRICE_EGRESS_GB: money.default(0),
  COFFER_COST_ALERT_USD: money.default(100),
});

export type Env = z.infer<typeof envSchema>;
