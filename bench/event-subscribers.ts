/**
 * The subscriber side of bench/events.bench.ts, in its own process so that parsing events does
 * not share the servers' event loop or show up in their RSS. Driven over IPC:
 *   open   → opens N clients (one WebSocket each), each with one `artifact.onEvent` subscription
 *   expect → answers `done` once every subscriber has `count` more events
 *   report → given each event's commit time, answers latency percentiles, losses and duplicates
 *   close  → closes everything and exits
 */
import WebSocket from 'ws';
import { type CofferClient, createCofferClient } from '../client/src/index.ts';

type Command =
  | { cmd: 'open'; url: string; token: string; n: number }
  | { cmd: 'expect'; count: number }
  | { cmd: 'report'; commits: Array<[artifactId: string, atMs: number]> }
  | { cmd: 'close' };

interface Subscriber {
  client: CofferClient;
  /** [artifactId, receivedAtMs] pairs since the last `expect`. */
  got: Array<string | number>;
  lastId: number;
  outOfOrder: number;
}

const subs: Subscriber[] = [];
let waiting: { count: number } | null = null;
const send = (m: unknown) => process.send!(m);

function open(url: string, token: string, n: number): void {
  let started = 0;
  // Say so, rather than hang, when sockets do not come up.
  const slow = setInterval(() => console.error(`event-subscribers: ${started}/${n} subscriptions started`), 10_000);
  const ready = () => {
    clearInterval(slow);
    send({ type: 'ready' });
  };
  for (let i = 0; i < n; i++) {
    const client = createCofferClient({ url, token, WebSocket: WebSocket as unknown as typeof globalThis.WebSocket });
    const sub: Subscriber = { client, got: [], lastId: 0, outOfOrder: 0 };
    subs.push(sub);
    client.artifact.onEvent.subscribe(
      {},
      {
        onStarted: () => ++started === n && ready(),
        onData: ({ data }) => {
          if (data.id <= sub.lastId) sub.outOfOrder++;
          sub.lastId = data.id;
          sub.got.push(data.artifactId ?? '', Date.now());
          check();
        },
        onError: (err) => send({ type: 'error', message: String(err) }),
      },
    );
  }
}

function check(): void {
  if (!waiting) return;
  const need = waiting.count * 2;
  if (subs.some((s) => s.got.length < need)) return;
  waiting = null;
  send({ type: 'done' });
}

/** Latency = received − committed, over every (subscriber, event); then resets for the next round. */
function report(commits: Map<string, number>) {
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
  };
}

// The bench died or finished: don't outlive it.
process.on('disconnect', () => process.exit(0));
process.on('message', (m: Command) => {
  if (m.cmd === 'open') open(m.url, m.token, m.n);
  else if (m.cmd === 'expect') {
    waiting = { count: m.count };
    check();
  } else if (m.cmd === 'report') {
    send(report(new Map(m.commits)));
  } else {
    void Promise.all(subs.map((s) => s.client.close())).finally(() => process.exit(0));
  }
});
