import { z } from 'zod';
import { idSchema, kindSchema } from './common.ts';
import { type CofferEventType, EVENT_TYPES } from './events.ts';

/**
 * Input of `artifact.onEvent`. Every filter narrows the caller's own tenant's stream; none can
 * widen it. `lastEventId` is the id of the last event the caller has seen: the stream resumes
 * right after it (tRPC's wsLink also sends it by itself when it reconnects).
 */
export const onEventInput = z.object({
  lastEventId: z
    .string()
    // 15 digits stay below 2^53, so the id survives Number() exactly.
    .regex(/^\d{1,15}$/, 'must be an event id: a non-negative integer string')
    .optional(),
  types: z
    .array(z.enum(EVENT_TYPES as [CofferEventType, ...CofferEventType[]]))
    .min(1)
    .max(EVENT_TYPES.length)
    .optional(),
  projectId: z.string().min(1).max(256).optional(),
  versionId: idSchema.optional(),
  artifactId: idSchema.optional(),
  /** Only events whose `data.kind` is one of these (artifact events); events without a kind are left out. */
  kinds: z.array(kindSchema).min(1).max(64).optional(),
});
export type OnEventInput = z.infer<typeof onEventInput>;
export type EventFilter = Omit<OnEventInput, 'lastEventId'>;

/** The newest event id of the caller's tenant ('0' if none): a resume point that misses nothing after it. */
export const eventCursorOutput = z.object({ lastEventId: z.string() });
