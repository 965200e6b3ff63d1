import { type HTTPBatchLinkOptions, httpBatchLink, httpLink, type Operation, type OperationLink, type TRPCLink } from '@trpc/client';
import { observable, type Unsubscribable } from '@trpc/server/observable';
import type { AppRouter } from './wire.ts';

// Browser-safe: no node: imports here.

/** The batch link's options; headers are the same for every call, batched or not. */
type Options = Omit<HTTPBatchLinkOptions<AppRouter['_def']['_config']['$types']>, 'headers'> & {
  headers?: () => Record<string, string>;
};

/**
 * Batched HTTP without the batch link's wait when there is nothing to batch. httpBatchLink holds
 * every call for a `setTimeout(0)` (a whole millisecond in Node, about what the server needs to
 * answer a small call) to gather the calls made in the same tick. This link gathers them itself,
 * until the pending I/O callbacks have run (setImmediate; a zero timeout where there is none),
 * then sends a lone call at once with httpLink and two or more together through httpBatchLink.
 * Both speak tRPC's own wire format, which the server answers either way.
 */
export function gatheringHttpLink(opts: Options): TRPCLink<AppRouter> {
  return (runtime) => {
    const single = httpLink<AppRouter>(opts)(runtime);
    const batch = httpBatchLink<AppRouter>(opts)(runtime);
    let gathered: Array<{ op: Operation; start: (link: OperationLink<AppRouter>) => void }> | null = null;
    const flush = () => {
      const all = gathered ?? [];
      gathered = null;
      // A call aborted while it waited goes to httpLink, whose fetch fails at once with the abort
      // error; a batch would send it anyway.
      const live = all.filter(({ op }) => !op.signal?.aborted);
      for (const { op, start } of all) start(live.length > 1 && !op.signal?.aborted ? batch : single);
    };
    return ({ op, next }) =>
      observable((observer) => {
        let sent: Unsubscribable | null = null;
        let cancelled = false;
        if (!gathered) {
          gathered = [];
          later(flush);
        }
        gathered.push({
          op,
          start: (link) => {
            if (!cancelled) sent = link({ op, next }).subscribe(observer);
          },
        });
        return () => {
          cancelled = true;
          sent?.unsubscribe();
        };
      });
  };
}

const later: (fn: () => void) => void = typeof setImmediate === 'function' ? setImmediate : (fn) => setTimeout(fn, 0);
