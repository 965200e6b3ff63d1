import pg from 'pg';
import { backoffMs } from '../../shared/retry.ts';
import { decodeEventPointers, decodeKeyChange, EVENTS_CHANNEL, type EventPointer, KEYS_CHANNEL } from './notification.ts';

/**
 * What the listener tells its subscribers. `reconnected` means notifications may have been
 * missed while no LISTEN was active (the first connect included): re-read from the source.
 */
export type PubSubMessage = { type: 'events'; pointers: EventPointer[] } | { type: 'key'; keyId: string } | { type: 'reconnected' };
export type PubSubHandler = (message: PubSubMessage) => void;

/**
 * Cross-instance signals: every instance hears about every committed event and every key change.
 * Payloads are only pointers (server/events/notification.ts); the rows are read from the
 * database, which stays the source of truth, so a lost notification costs latency, never data.
 */
export interface PubSub {
  subscribe(handler: PubSubHandler): () => void;
  /**
   * Sends NOTIFYs outside any transaction, on the listener's own connection (so a busy pool never
   * delays them). Dropped while disconnected: readers poll as a safety net.
   */
  publish(channel: string, payloads: string[]): Promise<void>;
  /** Resolves once the first LISTEN is active (tests and benches wait for it). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface PgPubSubOptions {
  url: string;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Connection losses and failed reconnects; the listener keeps retrying regardless. */
  onError?: (err: unknown) => void;
}

/**
 * One dedicated pg.Client per instance, LISTENing on both channels; pooled connections can't
 * LISTEN (a pool hands the session to others). Lost connections are re-established with
 * jittered exponential backoff, and every successful LISTEN is announced as `reconnected`.
 */
export function createPgPubSub(opts: PgPubSubOptions): PubSub {
  return new PgPubSub(opts);
}

class PgPubSub implements PubSub {
  private readonly handlers = new Set<PubSubHandler>();
  private client: pg.Client | null = null;
  private listening = false;
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

  async publish(channel: string, payloads: string[]): Promise<void> {
    const client = this.listening ? this.client : null;
    if (!client || payloads.length === 0) return;
    await client.query('select pg_notify($1, p) from unnest($2::text[]) as p', [channel, payloads]).catch(() => {
      // The connection is going; `lost` reconnects, and readers' polling delivers what this missed.
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    this.listening = false;
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
      // The pid tells apart the listeners of instances on one host in pg_stat_activity.
      application_name: `coffer-events-listener ${process.pid}`,
    });
    this.client = client;
    client.on('notification', (n) => this.onNotification(n));
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(EVENTS_CHANNEL)}; LISTEN ${pg.escapeIdentifier(KEYS_CHANNEL)}`);
    } catch (err) {
      this.lost(client, err);
      return;
    }
    if (this.client !== client) return; // closed or lost meanwhile
    this.attempt = 0;
    this.listening = true;
    this.emit({ type: 'reconnected' });
    this.resolveReady();
  }

  private lost(client: pg.Client, err?: unknown): void {
    if (this.client !== client) return; // already handled (error and end both fire)
    this.client = null;
    this.listening = false;
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
    const payload = n.payload ?? '';
    if (n.channel === EVENTS_CHANNEL) {
      const pointers = decodeEventPointers(payload);
      if (pointers.length) this.emit({ type: 'events', pointers });
    } else if (n.channel === KEYS_CHANNEL) {
      const keyId = decodeKeyChange(payload);
      if (keyId) this.emit({ type: 'key', keyId });
    }
  }

  private emit(message: PubSubMessage): void {
    for (const h of this.handlers) h(message);
  }
}
