import http from 'node:http';
import net from 'node:net';
import superjson from 'superjson';
import WebSocket from 'ws';

/**
 * Raw transports for the attack suite (test/e2e/attack): what an attacker sends without the
 * client's batching, splitting or retries.
 */

/** One tRPC call as a WebSocket message carries it (superjson input, as the client would encode it). */
export function wsCall(id: number, path: string, input?: unknown, method: 'query' | 'mutation' | 'subscription' = 'query') {
  return { id, jsonrpc: '2.0', method, params: { path, input: superjson.serialize(input) } };
}

export interface RawSocket {
  ws: WebSocket;
  /** Every message the server sent, parsed (PING/PONG excluded). */
  received: Array<{ id?: number | string | null; result?: unknown; error?: { json: { message: string; data: { code: string } } } }>;
  closed: Promise<{ code: number; reason: string; afterMs: number }>;
  /** The close, or `{ code: 0 }` if the socket is still open after `ms`. */
  closedWithin(ms: number): Promise<{ code: number; reason: string; afterMs: number }>;
  send(data: unknown): void;
  /** Resolves once `n` answers (or the close) have arrived. */
  answers(n: number, timeoutMs?: number): Promise<void>;
}

/**
 * Opens `/trpc` as a WebSocket. With `token`, authenticates as the client does: `?connectionParams=1`
 * and a first message carrying it; `withholdParams` announces connectionParams and never sends
 * them. `localAddress` picks the source address (127.0.0.x).
 */
export async function openWs(
  baseUrl: string,
  opts: { token?: string; localAddress?: string; withholdParams?: boolean } = {},
): Promise<RawSocket> {
  const params = opts.token !== undefined || opts.withholdParams;
  const url = `${baseUrl.replace(/^http/, 'ws')}/trpc${params ? '?connectionParams=1' : ''}`;
  const ws = new WebSocket(url, { localAddress: opts.localAddress });
  const opened = Date.now();
  const received: RawSocket['received'] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (data) => {
    const text = data.toString();
    if (text === 'PING') return ws.send('PONG');
    if (text === 'PONG') return;
    received.push(JSON.parse(text));
    for (const w of waiters) w();
  });
  const closed = new Promise<{ code: number; reason: string; afterMs: number }>((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString(), afterMs: Date.now() - opened });
      for (const w of waiters) w();
    });
    ws.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('close', () => reject(new Error('closed before open')));
  });
  if (opts.token !== undefined) ws.send(JSON.stringify({ method: 'connectionParams', data: { token: opts.token } }));
  return {
    ws,
    received,
    closed,
    closedWithin: (ms) =>
      Promise.race([
        closed,
        new Promise<{ code: number; reason: string; afterMs: number }>((r) =>
          setTimeout(() => r({ code: 0, reason: 'still open', afterMs: ms }), ms),
        ),
      ]),
    send: (data) => ws.send(typeof data === 'string' ? data : JSON.stringify(data)),
    answers: (n, timeoutMs = 10_000) =>
      new Promise<void>((resolve) => {
        const deadline = setTimeout(resolve, timeoutMs);
        const check = () => {
          if (received.length >= n || ws.readyState === WebSocket.CLOSED) {
            clearTimeout(deadline);
            resolve();
          }
        };
        waiters.push(check);
        check();
      }),
  };
}

export interface RawConnection {
  socket: net.Socket;
  /** Everything the server wrote, as text. */
  text(): string;
  /** Resolves when the server closes the connection (or after `timeoutMs`, with `closed: false`). */
  closed(timeoutMs: number): Promise<{ closed: boolean; afterMs: number }>;
}

/** A plain TCP connection to the server, writing `head` (if any) once connected. */
export async function openTcp(baseUrl: string, head?: string, localAddress?: string): Promise<RawConnection> {
  const { hostname, port } = new URL(baseUrl);
  const socket = net.connect({ host: hostname, port: Number(port), localAddress });
  const opened = Date.now();
  let text = '';
  let closedAt: number | null = null;
  socket.on('data', (d) => {
    text += d.toString();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closedAt = Date.now();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  if (head) socket.write(head);
  return {
    socket,
    text: () => text,
    closed: (timeoutMs) =>
      new Promise((resolve) => {
        const done = () => resolve({ closed: closedAt !== null, afterMs: (closedAt ?? Date.now()) - opened });
        if (closedAt !== null) return done();
        const t = setTimeout(done, timeoutMs);
        socket.once('close', () => {
          clearTimeout(t);
          done();
        });
      }),
  };
}

/** The JSON body of a raw HTTP response (headers stripped). */
export function bodyOf(response: string): unknown {
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  return JSON.parse(body);
}

/** GET /healthz from `localAddress` (its own anonymous bucket and connection count), timed. */
export function healthFrom(baseUrl: string, localAddress: string): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    http
      .get(`${baseUrl}/healthz`, { localAddress, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, ms: Date.now() - started }));
      })
      .on('error', reject);
  });
}
