import { TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { findForbiddenKey } from '../shared/wire-json.ts';

/**
 * The input half of the server's tRPC transformer (ws-fanout.ts): superjson, as the client speaks it, except that an input holding
 * a `__proto__`, `constructor` or `prototype` key anywhere is refused with BAD_REQUEST naming its
 * path. Checked on the raw JSON because superjson's deserialize drops `__proto__` keys without a
 * word (and the other two would make a stored row unanswerable: shared/wire-json.ts).
 */
export const wireInput = {
  serialize: (value: unknown) => superjson.serialize(value),
  deserialize: (raw: unknown) => {
    const json = raw !== null && typeof raw === 'object' && 'json' in raw ? raw.json : raw;
    const found = findForbiddenKey(json);
    if (found) throw new TRPCError({ code: 'BAD_REQUEST', message: `${found.path.join('.')}: ${found.message}` });
    return superjson.deserialize(raw as Parameters<typeof superjson.deserialize>[0]);
  },
};
