import { expect } from 'vitest';
import { isCofferError } from '../../client/src/index.ts';

/** Awaits a call that must fail with the given tRPC code; returns the error for further checks. */
export async function expectTrpcError(p: Promise<unknown>, code: string, message?: RegExp) {
  const err = await p.then(
    () => expect.fail(`expected ${code}, but the call succeeded`),
    (e: unknown) => e,
  );
  if (!isCofferError(err)) throw err;
  expect(err.data.code).toBe(code);
  if (message) expect(err.message).toMatch(message);
  return err;
}
