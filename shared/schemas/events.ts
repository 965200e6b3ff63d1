import { z } from 'zod';

/** Fields every event has. `id` grows in commit order within a tenant, so it doubles as a resume point. */
const base = {
  id: z.number().int(),
  createdAt: z.date(),
  artifactId: z.uuid().nullable(),
  projectId: z.string().nullable(),
  versionId: z.uuid().nullable(),
};

const ev = <T extends string, D extends z.ZodType>(type: T, data: D) => z.object({ ...base, type: z.literal(type), data });

export const artifactUploadedEvent = ev(
  'artifact_uploaded',
  z.object({
    kind: z.string(),
    sizeBytes: z.number().int(),
    sha256: z.string(),
    filename: z.string().nullable(),
    downloadReady: z.boolean(),
  }),
);
export const artifactFailedEvent = ev('artifact_failed', z.object({ kind: z.string(), reason: z.string() }));
export const artifactSizeWarningEvent = ev(
  'artifact_size_warning',
  z.object({ kind: z.string(), sizeBytes: z.number().int(), limitBytes: z.number().int(), suggestion: z.string() }),
);
export const artifactDeletedEvent = ev('artifact_deleted', z.object({ kind: z.string() }));
export const versionCreatedEvent = ev('version_created', z.object({ source: z.string(), hasSnapshot: z.boolean() }));
export const versionReadyEvent = ev('version_ready', z.object({ sizeBytes: z.number().int(), sha256: z.string() }));
/** Someone asked for a version's snapshot to be built again; `prompt` and `source` are what a build worker needs. */
export const rebuildRequestedEvent = ev('rebuild_requested', z.object({ source: z.string(), prompt: z.string().nullable() }));
export const versionRolledBackEvent = ev('version_rolled_back', z.object({ previousVersionId: z.uuid().nullable() }));
export const cleanupCompletedEvent = ev(
  'cleanup_completed',
  z.object({ job: z.string(), dryRun: z.boolean(), examined: z.number().int(), deleted: z.number().int(), bytesFreed: z.number().int() }),
);

export const cofferEventSchema = z.discriminatedUnion('type', [
  artifactUploadedEvent,
  artifactFailedEvent,
  artifactSizeWarningEvent,
  artifactDeletedEvent,
  versionCreatedEvent,
  versionReadyEvent,
  versionRolledBackEvent,
  rebuildRequestedEvent,
  cleanupCompletedEvent,
]);
export type CofferEvent = z.infer<typeof cofferEventSchema>;
export type CofferEventType = CofferEvent['type'];
export const EVENT_TYPES = cofferEventSchema.options.map((o) => o.shape.type.value) as CofferEventType[];

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** What a service writes: the database assigns id and createdAt; ids default to null. */
export type NewCofferEvent = DistributiveOmit<CofferEvent, 'id' | 'createdAt' | 'artifactId' | 'projectId' | 'versionId'> & {
  artifactId?: string | null;
  projectId?: string | null;
  versionId?: string | null;
};
