import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { PublicAppRouter } from '../../server/routers/client-view.ts';
import type * as shared from '../../shared/index.ts';
import type { EventFilter as SharedEventFilter } from '../../shared/schemas/event-stream.ts';

/**
 * The wire types the published package speaks, all derived from PublicAppRouter (the server's
 * router with its context type cut off; see server/routers/client-view.ts). The shared/ schema
 * modules declare their types as `z.infer<typeof schema>`, whose declarations need zod's own;
 * these are the same types read back off the router, which declaration emit prints as plain
 * object types. The package build resolves the client's imports of server/routers/_app and
 * shared/schemas/* to this module (client/rollup.config.js), so every name imported from
 * there must be exported here; the guards at the bottom keep both spellings identical.
 */
export type AppRouter = PublicAppRouter;
/** Any JSON value: what payloads and metadata values may be (zod's JSONType, the type z.json() infers). */
export type JSONType = string | number | boolean | null | JSONType[] | { [key: string]: JSONType };
export type RouterInputs = inferRouterInputs<PublicAppRouter>;
export type RouterOutputs = inferRouterOutputs<PublicAppRouter>;

type OnEventOutput = PublicAppRouter['_def']['record']['artifact']['onEvent']['_def']['$types']['output'];
/** One live event, as `client.events()` yields it. A union discriminated by `type`. */
export type CofferEvent = OnEventOutput extends AsyncIterable<{ data: infer E }> ? E : never;
export type CofferEventType = CofferEvent['type'];
/** The subscription's filters, without the resume point. */
export type EventFilter = Omit<RouterInputs['artifact']['onEvent'], 'lastEventId'>;

export type Artifact = RouterOutputs['artifact']['getInfo'];
export type Version = RouterOutputs['version']['get'];
export type UploadPlan = RouterOutputs['artifact']['createUpload']['upload'];
export type CreateUploadInput = RouterInputs['artifact']['createUpload'];
/** What version.create takes; `snapshot` is the parsed form (contentType filled in). */
type SnapshotDeclInput = NonNullable<RouterInputs['version']['create']['snapshot']>;
export type CreateVersionInput = Omit<RouterInputs['version']['create'], 'snapshot'> & {
  snapshot?: Omit<SnapshotDeclInput, 'contentType'> & Required<Pick<SnapshotDeclInput, 'contentType'>>;
};

// Guards: a mismatch with shared/'s spelling is a compile error here, not a surprise in the package.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const guards: [
  Same<CofferEvent, shared.CofferEvent>,
  Same<EventFilter, SharedEventFilter>,
  Same<UploadPlan, shared.UploadPlan>,
  Same<CreateUploadInput, shared.CreateUploadInput>,
  Same<CreateVersionInput, shared.CreateVersionInput>,
  Same<Artifact, shared.Artifact>,
  Same<Version, shared.Version>,
  Same<JSONType, import('zod').JSONType>,
] = [true, true, true, true, true, true, true, true];
void guards;
