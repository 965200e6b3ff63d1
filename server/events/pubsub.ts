import pg from 'pg';
import { backoffMs } from '../../shared/retry.ts';
import { decodeNotification, EVENTS_CHANNEL } from './notification.ts';

/**
 * What the listener tells its subscribers. `reconnected` means notifications may have been
 * missed while no LISTEN was active (the first connect included): re-read from the event log.
 */
export type PubSubMessage = { type: 'notify'; tenantId: string; id: number } | { type: 'reconnected' };
export type PubSubHandler = (message: PubSubMessage) => void;

/**
 * Cross-instance fan-out: every instance hears about every committed event. Payloads are only
 * pointers (`<tenantId>:<eventId>`); the rows are read from the event log, which stays the
 * source of truth, so a lost notification costs latency, never an event.
 */
export interface PubSub {
  subscribe(handler: PubSubHandler): () => void;
  /** Resolves once the first LISTEN is active (tests and benches wait for it). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface PgPubSubOptions {
  url: string;
  channel?: string;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Connection losses and failed reconnects; the listener keeps retrying regardless. */
  onError?: (err: unknown) => void;
}

/**
 * One dedicated pg.Client per instance, LISTENing on the events channel; pooled connections
 * can't LISTEN (a pool hands the session to others). Lost connections are re-established with
 * jittered exponential backoff, and every successful LISTEN is announced as `reconnected`.
 */
export function createPgPubSub(opts: PgPubSubOptions): PubSub {
  return new PgPubSub(opts);
}

class PgPubSub implements PubSub {
  private readonly handlers = new Set<PubSubHandler>();
  private client: pg.Client | null = null;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private resolveReady!: () => void;
  readonly ready = new Promise<void>((resolve) => (this.resolveReady = resolve));
  private readonly opts: PgPubSubOptions;

  constructor(opts: PgPubSubOptions) {
    this.opts = opts;
    void this.connect();
  }

  subscribe(handler: PubSubHandler): () => void {
    this.handlers.add(handler);
    return () => void this.handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    this.handlers.clear();
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.opts.url,
      // A silently dead TCP peer (no RST) would otherwise leave us deaf until the OS gives up.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: 5_000,
      application_name: 'coffer-events-listener',
    });
    this.client = client;
    client.on('notification', (n) => this.onNotification(n));
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.opts.channel ?? EVENTS_CHANNEL)}`);
    } catch (err) {
      this.lost(client, err);
      return;
    }
    if (this.client !== client) return; // lost or closed meanwhile
    this.attempt = 0;
    this.resolveReady();
    this.emit({ type: 'reconnected' });
  }

  private lost(client: pg.Client, err?: unknown): void {
    if (this.client !== client) return; // already handled (error and end both fire)
    this.client = null;
    client.removeAllListeners('notification');
    client.on('error', () => {}); // late socket errors of a dropped client must not crash the process
    void client.end().catch(() => {});
    if (this.closed) return;
    if (err) this.opts.onError?.(err);
    const min = this.opts.minBackoffMs ?? 100;
    const max = this.opts.maxBackoffMs ?? 5_000;
    const delay = backoffMs(this.attempt++, { baseMs: min, maxMs: max });
    this.timer = setTimeout(() => void this.connect(), delay);
  }

  private onNotification(n: pg.Notification): void {
    const pointer = decodeNotification(n.payload ?? '');
    if (pointer) this.emit({ type: 'notify', ...pointer });
  }

  private emit(message: PubSubMessage): void {
    for (const h of this.handlers) h(message);
  }
}
