import { CofferError } from '../errors.ts';

/**
 * Bounds the payload bytes that artifact.get answers pile up for one caller
 * (COFFER_MAX_BATCH_READ_BYTES): a batch of 50 reads of a 5 MiB artifact would otherwise be one
 * 250 MiB answer. `take` is called before the bytes are read and returns the release.
 */
export interface ReadBudget {
  take(bytes: number): () => void;
}

function refuse(max: number, bytes: number): never {
  throw new CofferError(
    'TOO_LARGE',
    `reading these ${bytes} bytes would take this batch's artifact.get answers past ${max} bytes (COFFER_MAX_BATCH_READ_BYTES); read fewer at once, or fetch large artifacts with artifact.getDownloadUrl`,
  );
}

/** Over HTTP every answer of a batch is held until the last is ready: one budget per request, never refilled. */
export function requestReadBudget(max: number): ReadBudget {
  let used = 0;
  return {
    take(bytes) {
      if (used + bytes > max) refuse(max, bytes);
      used += bytes;
      return () => {};
    },
  };
}

/**
 * Over a WebSocket each answer is sent when ready and the connection lives on: the budget is
 * what its reads have in flight plus what the socket has not yet sent (a client that stops
 * reading cannot make the server buffer more).
 */
export function socketReadBudget(max: number, socket: { readonly bufferedAmount: number }): ReadBudget {
  let inFlight = 0;
  return {
    take(bytes) {
      if (inFlight + socket.bufferedAmount + bytes > max) refuse(max, bytes);
      inFlight += bytes;
      let released = false;
      return () => {
        if (!released) inFlight -= bytes;
        released = true;
      };
    },
  };
}
