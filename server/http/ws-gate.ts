import type { IncomingMessage } from 'node:http';
import { TRPCError } from '@trpc/server';
import type { RawData, WebSocket } from 'ws';
import type { Principal } from '../auth/principal.ts';
import type { GuardConfig } from '../config/index.ts';
import { clientIp, type RequestGuards } from '../limits/index.ts';
import { trpcErrorBody } from './trpc-errors.ts';

/** WebSocket close code for a policy violation: the reason says which limit. */
const POLICY_VIOLATION = 1008;

/**
 * Calls one WebSocket message may carry: the HTTP batch cap, or more if a key may hold more
 * subscriptions, since a reconnecting client resends all of them in one message.
 */
export const wsCallsPerMessage = (c: GuardConfig) => Math.max(c.maxBatchSize, c.maxSubscriptionsPerKey);

interface Gate {
  authenticated(principal: Principal | null): void;
}
const gates = new WeakMap<object, Gate>();

/** createContext for WebSockets: tells the socket's gate who its context authenticated. */
export function gatedContext<O extends { res: unknown }, C extends { principal: Principal }>(create: (opts: O) => Promise<C>) {
  return async (opts: O): Promise<C> => {
    const gate = gates.get(opts.res as object);
    try {
      const ctx = await create(opts);
      gate?.authenticated(ctx.principal);
      return ctx;
    } catch (err) {
      gate?.authenticated(null);
      throw err;
    }
  };
}

/**
 * Puts limits in front of tRPC's WebSocket handler, which sees every message first otherwise:
 * tRPC's HTTP batch cap and the per-address rate of unauthenticated calls are both per request,
 * and one WebSocket message can carry thousands of calls. Each message is counted before tRPC
 * parses or runs any of it:
 * - more calls than wsCallsPerMessage: a socket without a valid credential is closed, an
 *   authenticated one gets PAYLOAD_TOO_LARGE for each call, and none of them runs;
 * - without a valid credential, a message's calls are paid from the address's
 *   COFFER_RATE_LIMIT_ANON_PER_MINUTE bucket up front (the procedures then charge nothing), and
 *   the socket is closed when it cannot pay;
 * - a socket that has no valid credential COFFER_WS_AUTH_TIMEOUT_SECONDS after it opened is closed.
 * Messages that arrive while the credential is being checked wait (at most
 * COFFER_WS_MAX_MESSAGE_BYTES of them) and are then judged in order.
 */
export function gateSocket(socket: WebSocket, req: IncomingMessage, guards: RequestGuards): void {
  const { config } = guards;
  const maxCalls = wsCallsPerMessage(config);
  const expectsParams = new URL(req.url ?? '/', 'http://x').searchParams.get('connectionParams') === '1';
  let state: 'params' | 'pending' | 'anonymous' | 'authenticated' | 'closed' = expectsParams ? 'params' : 'pending';
  let queued: Array<[RawData, boolean]> = [];
  let queuedBytes = 0;
  const emit = socket.emit.bind(socket);

  const close = (reason: string) => {
    if (state === 'closed') return;
    state = 'closed';
    queued = [];
    clearTimeout(deadline);
    socket.close(POLICY_VIOLATION, reason);
  };
  const deadline = setTimeout(
    () => close(`no valid credential within ${config.wsAuthTimeoutSeconds} s (COFFER_WS_AUTH_TIMEOUT_SECONDS)`),
    config.wsAuthTimeoutSeconds * 1000,
  );
  socket.once('close', () => {
    clearTimeout(deadline);
    state = 'closed';
    queued = [];
  });

  /** Whether tRPC may have the message; refuses it (answering or closing) otherwise. */
  const admit = (data: RawData, isBinary: boolean): boolean => {
    const messages = parse(data, isBinary); // undefined when not JSON: tRPC answers PARSE_ERROR
    const calls = Array.isArray(messages) ? messages.length : 1;
    if (calls > maxCalls) {
      if (state === 'anonymous') close(`a message of ${calls} calls exceeds the limit of ${maxCalls} (COFFER_MAX_BATCH_SIZE)`);
      else refuseEach(socket, Array.isArray(messages) ? messages : [messages], calls, maxCalls);
      return false;
    }
    if (state === 'anonymous' && guards.perIp && guards.perIp.take(clientIp(req), calls) > 0) {
      close(`this address spent its ${config.anonRatePerMinute} calls a minute (COFFER_RATE_LIMIT_ANON_PER_MINUTE)`);
      return false;
    }
    return true;
  };

  socket.emit = (event: string | symbol, ...args: unknown[]): boolean => {
    if (event !== 'message') return emit(event, ...args);
    if (state === 'closed') return false;
    const [data, isBinary] = args as [RawData, boolean];
    if (!isBinary && isKeepAlive(data)) return emit(event, ...args);
    if (state === 'params') {
      state = 'pending'; // the connectionParams message, which starts the context
      return emit(event, ...args);
    }
    if (state === 'pending') {
      queuedBytes += byteLength(data);
      if (queued.length > 0 && queuedBytes > config.wsMaxMessageBytes) {
        close('sent too much before its credential was checked (COFFER_WS_MAX_MESSAGE_BYTES)');
      } else queued.push([data, isBinary]);
      return true;
    }
    return admit(data, isBinary) ? emit(event, ...args) : false;
  };

  gates.set(socket, {
    authenticated(principal) {
      if (state === 'closed') return;
      state = principal && principal.kind !== 'anonymous' ? 'authenticated' : 'anonymous';
      if (state === 'authenticated') clearTimeout(deadline);
      const waiting = queued;
      queued = [];
      for (const [data, isBinary] of waiting) {
        if ((state as string) === 'closed') break;
        if (admit(data, isBinary)) emit('message', data, isBinary);
      }
    },
  });
}

/** PAYLOAD_TOO_LARGE for each call of a refused message, so the client's promises settle. */
function refuseEach(socket: WebSocket, messages: unknown[], calls: number, maxCalls: number): void {
  const message = `a message of ${calls} calls exceeds the limit of ${maxCalls} calls per WebSocket message (COFFER_MAX_BATCH_SIZE, or COFFER_MAX_SUBSCRIPTIONS_PER_KEY if larger); send fewer at once`;
  const answer = trpcErrorBody(new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message }));
  for (const m of messages) {
    const { id, jsonrpc, method } = (m ?? {}) as { id?: unknown; jsonrpc?: unknown; method?: unknown };
    if ((typeof id !== 'number' && typeof id !== 'string') || method === 'subscription.stop') continue;
    socket.send(JSON.stringify({ id, ...(jsonrpc === '2.0' && { jsonrpc }), ...answer }));
  }
}

function parse(data: RawData, isBinary: boolean): unknown {
  if (isBinary) return undefined;
  try {
    return JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : String(data));
  } catch {
    return undefined;
  }
}

function isKeepAlive(data: RawData): boolean {
  return Buffer.isBuffer(data) && data.length === 4 && (data.equals(PING) || data.equals(PONG));
}
const PING = Buffer.from('PING');
const PONG = Buffer.from('PONG');

const byteLength = (data: RawData) => (Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength);
