/**
 * The subscriber side of bench/events.bench.ts, in its own process so that reading events does
 * not share the servers' event loop or show up in their RSS. Driven over IPC:
 *   open   → opens N subscribers (one WebSocket each), each with one `artifact.onEvent` subscription
 *   expect → answers `done` once every subscriber has `count` more events
 *   report → given each event's commit time, answers latency percentiles, losses and duplicates
 *   close  → closes everything and exits
 *
 * Two kinds of subscriber (BENCH_CLIENT):
 * - `raw` (default): a bare `ws` socket that speaks tRPC's WebSocket protocol itself, exactly as
 *   @trpc/client's wsLink does (`?connectionParams=1`, the connectionParams message, one
 *   `subscription` request with superjson input, PONG to the server's PING). An event counts as
 *   received when its frame has arrived and been JSON-parsed, and its tracked id and artifactId
 *   read off it; the rest of the payload (superjson's meta: dates) is left as it is.
 * - `client`: a full createCofferClient per subscriber (wsLink + superjson + the retry link), an
 *   event counting as received in onData. 1,000 of them in one process parse 20,000 messages/s
 *   on a core the servers and Postgres also need, so at 20 ev/s they measure this process's
 *   backlog more than the server's latency; kept to show the difference.
 * Either way every subscriber has its own socket, and loss, duplicates and order are checked per
 * subscriber. Times are performance.timeOrigin + performance.now() (sub-millisecond, same clock as
 * the bench process's commit times).
 */
import WebSocket from 'ws';
import { type CofferClient, createCofferClient } from '../client/src/index.ts';

type Command =
  | { cmd: 'open'; url: string; token: string; n: number; client: 'raw' | 'client' }
  | { cmd: 'expect'; count: number }
  | { cmd: 'report'; commits: Array<[artifactId: string, atMs: number]> }
  | { cmd: 'close' };

interface Subscriber {
  close(): Promise<void> | void;
  /** [artifactId, receivedAtMs] pairs since the last `expect`. */
  got: Array<string | number>;
  lastId: number;
  outOfOrder: number;
}

const subs: Subscriber[] = [];
let waiting: { count: number } | null = null;
const send = (m: unknown) => process.connected && process.send!(m);
const now = () => performance.timeOrigin + performance.now();

function received(sub: Subscriber, id: number, artifactId: string): void {
  sub.got.push(artifactId, now());
  if (id <= sub.lastId) sub.outOfOrder++;
  sub.lastId = id;
  check();
}

/** One subscriber over a bare socket, in tRPC's wire protocol (see the header). */
function openRaw(url: string, token: string, onStarted: () => void): Subscriber {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/trpc?connectionParams=1`);
  const sub: Subscriber = { close: () => ws.close(), got: [], lastId: 0, outOfOrder: 0 };
  ws.on('open', () => {
    ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
    ws.send(JSON.stringify({ id: 1, method: 'subscription', params: { input: { json: {} }, path: 'artifact.onEvent' } }));
  });
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? '' : data.toString();
    if (text === 'PING') return ws.send('PONG');
    const m = JSON.parse(text) as {
      id: number;
      // A tracked value goes over the wire as superjson of { id, data }.
      result?: { type: string; id?: string; data?: { json: { data: { artifactId?: string | null } } } };
      error?: unknown;
    };
    if (m.error !== undefined) return send({ type: 'error', message: JSON.stringify(m.error) });
    if (m.result?.type === 'started') return onStarted();
    if (m.result?.type === 'data') received(sub, Number(m.result.id), m.result.data?.json.data.artifactId ?? '');
  });
  ws.on('close', (code, reason) => {
    if (!closing) send({ type: 'error', message: `socket closed (${code} ${reason.toString()})` });
  });
  ws.on('error', (err) => send({ type: 'error', message: String(err) }));
  return sub;
}

/** One subscriber through the full client. */
function openClient(url: string, token: string, onStarted: () => void): Subscriber {
  const client: CofferClient = createCofferClient({ url, token, WebSocket: WebSocket as unknown as typeof globalThis.WebSocket });
  const sub: Subscriber = { close: () => client.close(), got: [], lastId: 0, outOfOrder: 0 };
  client.artifact.onEvent.subscribe(
    {},
    {
      onStarted,
      onData: ({ data }) => received(sub, data.id, data.artifactId ?? ''),
      onError: (err) => send({ type: 'error', message: String(err) }),
    },
  );
  return sub;
}

let closing = false;

function open(url: string, token: string, n: number, kind: 'raw' | 'client'): void {
  let started = 0;
  // Say so, rather than hang, when sockets do not come up.
  const slow = setInterval(() => console.error(`event-subscribers: ${started}/${n} subscriptions started`), 10_000);
  const onStarted = () => {
    if (++started !== n) return;
    clearInterval(slow);
    send({ type: 'ready' });
  };
  for (let i = 0; i < n; i++) subs.push((kind === 'raw' ? openRaw : openClient)(url, token, onStarted));
}

function check(): void {
  if (!waiting) return;
  const need = waiting.count * 2;
  if (subs.some((s) => s.got.length < need)) return;
  waiting = null;
  send({ type: 'done' });
}

let cpuSince = { at: now(), usage: process.cpuUsage() };

/**
 * Latency = received − committed, over every (subscriber, event), and this process's CPU share
 * since the last report (near 100%, it is the bottleneck); then resets for the next round.
 */
function report(commits: Map<string, number>) {
  const cpu = process.cpuUsage(cpuSince.usage);
  const cpuShare = (cpu.user + cpu.system) / 1000 / (now() - cpuSince.at);
  cpuSince = { at: now(), usage: process.cpuUsage() };
  const latencies: number[] = [];
  let lost = 0;
  let duplicates = 0;
  let unexpected = 0;
  let lastReceivedAt = 0;
  for (const s of subs) {
    const seen = new Set<string>();
    for (let i = 0; i < s.got.length; i += 2) {
      const id = s.got[i] as string;
      const at = s.got[i + 1] as number;
      if (seen.has(id)) duplicates++;
      seen.add(id);
      const committed = commits.get(id);
      if (committed === undefined) unexpected++;
      else latencies.push(at - committed);
      lastReceivedAt = Math.max(lastReceivedAt, at);
    }
    for (const id of commits.keys()) if (!seen.has(id)) lost++;
    s.got = [];
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? NaN;
  const outOfOrder = subs.reduce((n, s) => n + s.outOfOrder, 0);
  return {
    type: 'report',
    deliveries: latencies.length,
    p50: pct(50),
    p99: pct(99),
    max: latencies.at(-1) ?? NaN,
    lost,
    duplicates,
    unexpected,
    outOfOrder,
    lastReceivedAt,
    cpuShare,
  };
}

// The bench died or finished: don't outlive it.
process.on('disconnect', () => process.exit(0));
process.on('message', (m: Command) => {
  if (m.cmd === 'open') open(m.url, m.token, m.n, m.client);
  else if (m.cmd === 'expect') {
    waiting = { count: m.count };
    check();
  } else if (m.cmd === 'report') {
    send(report(new Map(m.commits)));
  } else {
    closing = true;
    void Promise.all(subs.map((s) => s.close())).finally(() => process.exit(0));
  }
});
