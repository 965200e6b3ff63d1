import { Transform } from 'node:stream';
import { CofferError } from '../errors.ts';

/**
 * Passes bytes through and fails the stream as soon as it is longer than `expected`, or at its
 * end when it is shorter. Backends put it in front of the destination so a lying client or a
 * truncated upload never becomes a stored object of the wrong size.
 */
export function lengthGuard(expected: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > expected) return done(sizeMismatch(expected, 'longer'));
      done(null, chunk);
    },
    flush(done) {
      done(seen < expected ? sizeMismatch(expected, 'shorter') : null);
    },
  });
}

function sizeMismatch(expected: number, how: 'longer' | 'shorter'): CofferError {
  return new CofferError('SIZE_MISMATCH', `body is ${how} than the declared ${expected} bytes`);
}
