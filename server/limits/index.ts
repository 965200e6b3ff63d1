import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { GuardConfig } from '../config/index.ts';
import { CofferError } from '../errors.ts';
import { createSubscriptionSlots, type SubscriptionSlots } from './subscription-slots.ts';
import { createTokenBucket, type TokenBucketLimiter } from './token-bucket.ts';

export { releasingIterable } from './subscription-slots.ts';

/**
 * One app's abuse limits, all in this process's memory: each instance enforces them on its own,
 * so N instances behind a balancer allow N times the configured rates and subscriptions.
 */
export interface RequestGuards {
  config: GuardConfig;
  /** Per API key (COFFER_RATE_LIMIT_PER_MINUTE); null when unlimited. */
  perKey: TokenBucketLimiter | null;
  /** Per client address, for calls without a valid credential and invalid signed URLs (COFFER_RATE_LIMIT_ANON_PER_MINUTE). */
  perIp: TokenBucketLimiter | null;
  subscriptions: SubscriptionSlots;
}

export function createRequestGuards(config: GuardConfig): RequestGuards {
  return {
    config,
    perKey: config.ratePerMinute > 0 ? createTokenBucket(config.ratePerMinute) : null,
    perIp: config.anonRatePerMinute > 0 ? createTokenBucket(config.anonRatePerMinute) : null,
    subscriptions: createSubscriptionSlots(config.maxSubscriptionsPerKey),
  };
}

/** Throws RATE_LIMITED, naming the limit, when `key` has used up its bucket. */
export function takeKeyToken(guards: RequestGuards, keyId: string): void {
  const wait = guards.perKey?.take(keyId) ?? 0;
  if (wait) {
    const limit = `${guards.config.ratePerMinute} requests per minute per API key (COFFER_RATE_LIMIT_PER_MINUTE)`;
    throw new CofferError('RATE_LIMITED', `rate limit of ${limit} exceeded; retry in ${wait} s`, { retryAfterSeconds: wait });
  }
}

export function takeIpToken(guards: RequestGuards, ip: string): void {
  const wait = guards.perIp?.take(ip) ?? 0;
  if (wait) {
    const limit = `${guards.config.anonRatePerMinute} unauthenticated requests per minute per client address (COFFER_RATE_LIMIT_ANON_PER_MINUTE)`;
    throw new CofferError('RATE_LIMITED', `rate limit of ${limit} exceeded; retry in ${wait} s`, { retryAfterSeconds: wait });
  }
}

/** A release function for a new subscription of `keyId`, or RATE_LIMITED naming the cap. */
export function acquireSubscription(guards: RequestGuards, keyId: string): () => void {
  const release = guards.subscriptions.acquire(keyId);
  if (release) return release;
  const max = guards.config.maxSubscriptionsPerKey;
  throw new CofferError(
    'RATE_LIMITED',
    `this API key already has ${max} open subscriptions, the limit (COFFER_MAX_SUBSCRIPTIONS_PER_KEY); close one first`,
  );
}

/** tRPC's own maxBatchSize answers a message without the limit; this one names it. */
export function checkBatchSize(guards: RequestGuards, calls: number): void {
  const max = guards.config.maxBatchSize;
  if (calls > max) {
    throw new CofferError('TOO_LARGE', `a batch of ${calls} calls exceeds the limit of ${max} calls per request (COFFER_MAX_BATCH_SIZE)`);
  }
}

const clientIps = new WeakMap<IncomingMessage, string>();

/**
 * Records Fastify's `req.ip` (which honours trustProxy) against the raw request: tRPC hands
 * WebSocket connections' createContext the raw IncomingMessage, which has no `ip`.
 */
export function recordClientIps(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    clientIps.set(req.raw, req.ip);
  });
}

export function clientIp(req: IncomingMessage | { raw: IncomingMessage; ip: string }): string {
  if ('raw' in req) return req.ip;
  return clientIps.get(req) ?? req.socket?.remoteAddress ?? 'unknown';
}
