import type {
  AnyTRPCProcedure,
  AnyTRPCRouter,
  TRPCBuiltRouter,
  TRPCMutationProcedure,
  TRPCQueryProcedure,
  TRPCSubscriptionProcedure,
} from '@trpc/server';
import { type AppRouter, appRouter } from './_app.ts';

/**
 * The router type the published client is built against: AppRouter's procedures with only
 * their input and output, under a root whose context is `object`.
 *
 * Why: AppRouter's root types carry the server Context (Deps → drizzle's NodePgDatabase,
 * Storage, the event hub...), so its declarations pull server and drizzle types into any
 * .d.ts that names it. tRPC's client needs only `_def.record` (each procedure's type, input,
 * output) and the root's errorShape and transformer.
 *
 * How: `publicView` has its mapping written inline in its return type, with no type alias
 * around the mapped records. TypeScript's declaration emit prints the inferred type of
 * `publicAppRouter` structurally, so server/routers/client-view.d.ts comes out self-contained: no
 * import of _app, context or drizzle, only @trpc/server's procedure and router interfaces
 * around plain object types. Routers nest one level (namespace → procedure), as _app.ts does.
 */
type PublicProcedure<P> = P extends AnyTRPCProcedure
  ? P['_def']['type'] extends 'query'
    ? TRPCQueryProcedure<{ input: P['_def']['$types']['input']; output: P['_def']['$types']['output']; meta: object }>
    : P['_def']['type'] extends 'mutation'
      ? TRPCMutationProcedure<{ input: P['_def']['$types']['input']; output: P['_def']['$types']['output']; meta: object }>
      : TRPCSubscriptionProcedure<{ input: P['_def']['$types']['input']; output: P['_def']['$types']['output']; meta: object }>
  : never;

type Root<R extends AnyTRPCRouter> = R['_def']['_config']['$types'];

const publicView = <R extends AnyTRPCRouter>(r: R) =>
  r as unknown as TRPCBuiltRouter<
    { ctx: object; meta: object; errorShape: Root<R>['errorShape']; transformer: Root<R>['transformer'] },
    {
      [NS in keyof R['_def']['record']]: R['_def']['record'][NS] extends AnyTRPCProcedure
        ? PublicProcedure<R['_def']['record'][NS]>
        : { [P in keyof R['_def']['record'][NS]]: PublicProcedure<R['_def']['record'][NS][P]> };
    }
  >;

/** Never served: it exists for its type (the same object as appRouter at runtime). */
export const publicAppRouter = publicView(appRouter);
export type PublicAppRouter = typeof publicAppRouter;

// Compile-time guard: the client-facing view must agree with the real router, both ways.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type InOut<R extends AnyTRPCRouter> = [import('@trpc/server').inferRouterInputs<R>, import('@trpc/server').inferRouterOutputs<R>];
const viewMatches: Same<InOut<PublicAppRouter>, InOut<AppRouter>> = true;
void viewMatches;
