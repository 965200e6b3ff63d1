/**
 * The one codec of Coffer's notification channels. A notification is only a pointer: the listener
 * reads the rows from the event log (or the key from api_keys), which stays the source of truth,
 * so a lost or forged notification costs latency, never an event, and reveals nothing
 * (server/events/hub.ts).
 */
export const EVENTS_CHANNEL = 'coffer_events';
/** An API key was revoked or its expiry changed: every instance drops it and re-checks its sockets. */
export const KEYS_CHANNEL = 'coffer_keys';

export interface EventPointer {
  tenantId: string;
  id: number;
}

/** Postgres refuses payloads of 8000 bytes or more; stay well below. */
const MAX_PAYLOAD = 7_800;

/**
 * `<tenantId>:<eventId>` pointers, comma-separated, as few payloads as fit: one NOTIFY carries the
 * newest id of every tenant an instance committed events for since its last one.
 */
export function encodeEventPointers(pointers: Iterable<EventPointer>): string[] {
  const payloads: string[] = [];
  let current = '';
  for (const p of pointers) {
    const item = `${p.tenantId}:${p.id}`;
    if (current && current.length + 1 + item.length > MAX_PAYLOAD) {
      payloads.push(current);
      current = '';
    }
    current = current ? `${current},${item}` : item;
  }
  if (current) payloads.push(current);
  return payloads;
}

/** The pointers of one payload; anything this version did not write is skipped rather than guessed at. */
export function decodeEventPointers(payload: string): EventPointer[] {
  const out: EventPointer[] = [];
  for (const item of payload.split(',')) {
    const sep = item.lastIndexOf(':');
    const digits = item.slice(sep + 1);
    const id = Number(digits);
    if (sep <= 0 || !/^\d{1,16}$/.test(digits) || !Number.isSafeInteger(id)) continue;
    out.push({ tenantId: item.slice(0, sep), id });
  }
  return out;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A key-change payload is the key's id; null for anything else. */
export function decodeKeyChange(payload: string): string | null {
  return UUID_RE.test(payload) ? payload.toLowerCase() : null;
}
