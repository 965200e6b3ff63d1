/**
 * The one codec of the events channel. A notification is only a pointer (`<tenantId>:<eventId>`):
 * the listener reads the row from the event log, which stays the source of truth, so a lost or
 * forged notification costs latency, never an event, and reveals nothing (server/events/hub.ts).
 */
export const EVENTS_CHANNEL = 'coffer_events';

export interface EventPointer {
  tenantId: string;
  id: number;
}

export const encodeNotification = (p: EventPointer): string => `${p.tenantId}:${p.id}`;

/** null for anything this version did not write: ignored rather than guessed at. */
export function decodeNotification(payload: string): EventPointer | null {
  const sep = payload.lastIndexOf(':');
  const id = Number(payload.slice(sep + 1));
  if (sep <= 0 || !/^\d+$/.test(payload.slice(sep + 1)) || !Number.isSafeInteger(id)) return null;
  return { tenantId: payload.slice(0, sep), id };
}
