import type { EventFilter } from '../../shared/schemas/event-stream.ts';
import { type CofferEvent, cofferEventSchema } from '../../shared/schemas/events.ts';
import type { EventRow } from '../db/queries/events.ts';

/**
 * Turns a row into the public event type, validated by the shared zod schema. This is where
 * subscription output is checked: tRPC's `.output()` sees the async iterable, not each event,
 * and parsing once per row here (not once per subscriber) keeps fan-out cheap.
 * A row this version can't parse (an event type added by a newer instance during a rolling
 * deploy) yields null and is skipped rather than breaking every subscription.
 */
export function rowToEvent(row: EventRow): CofferEvent | null {
  const { tenantId: _tenant, ...rest } = row;
  const parsed = cofferEventSchema.safeParse(rest);
  return parsed.success ? parsed.data : null;
}

/** The in-memory twin of `listEventsAfter`'s SQL filter, applied to live events. */
export function matchesFilter(filter: EventFilter): (e: CofferEvent) => boolean {
  const types = filter.types && new Set<string>(filter.types);
  const kinds = filter.kinds && new Set(filter.kinds);
  return (e) =>
    (!types || types.has(e.type)) &&
    (!filter.projectId || e.projectId === filter.projectId) &&
    (!filter.versionId || e.versionId === filter.versionId) &&
    (!filter.artifactId || e.artifactId === filter.artifactId) &&
    (!kinds || ('kind' in e.data && kinds.has(e.data.kind)));
}
