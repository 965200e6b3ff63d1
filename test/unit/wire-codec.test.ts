import fc from 'fast-check';
import superjson from 'superjson';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deserializeWire, serializeWire } from '../../shared/wire-codec.ts';

/** What the wire carries: the two must agree byte for byte, or both refuse. */
function sameBytes(v: unknown): void {
  let want: string | Error;
  try {
    want = JSON.stringify(superjson.serialize(v));
  } catch (err) {
    want = err as Error;
  }
  if (want instanceof Error) expect(() => serializeWire(v)).toThrow(want.message);
  else expect(JSON.stringify(serializeWire(v))).toBe(want);
}

/** Reads `payload` as superjson does, and leaves it as it was. */
function sameValue(payload: unknown): void {
  const before = structuredClone(payload);
  expect(deserializeWire(payload)).toEqual(superjson.deserialize(structuredClone(payload) as never));
  expect(payload).toEqual(before);
}

const row = (i: number) => ({
  id: `0000000${i}-0000-4000-8000-000000000000`,
  kind: 'chat_transcript',
  entityType: null,
  sizeBytes: 2000 + i,
  metadata: { model: 'm', 'a.b': { 'c\\d': [1, 'x', null, true] } },
  createdAt: new Date(1_700_000_000_000 + i),
  updatedAt: new Date(1_700_000_000_500 + i),
});

class Thing {
  x = 1;
}

describe('serializeWire', () => {
  afterEach(() => vi.restoreAllMocks());

  it('writes what superjson writes for values it annotates, refuses or dedupes', () => {
    const shared = { a: 1 };
    const date = new Date(0);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    // biome-ignore lint/suspicious/noSparseArray: a hole on purpose
    const holes = [1, , 3];
    class MyDate extends Date {}
    const cases: unknown[] = [
      { a: undefined },
      { a: Number.NaN, b: -0, c: Number.POSITIVE_INFINITY },
      { a: 10n },
      { m: new Map([['k', 1]]), s: new Set([1]) },
      { t: new Thing() },
      { a: shared, b: [shared] },
      { a: date, b: date },
      cyclic,
      { d: new Date(Number.NaN) },
      { d: new MyDate(5) },
      JSON.parse('{"__proto__": {"x": 1}}'),
      { constructor: 1 },
      { prototype: { d: new Date(1) } },
      holes,
      { f: () => 1 },
      { s: Symbol('s') },
      { r: /x/g, e: new Error('boom'), u: new URL('http://x/') },
    ];
    for (const v of cases) sameBytes(v);
  });

  it('writes what superjson writes for roots, odd keys and key order', () => {
    const cases: unknown[] = [
      null,
      1,
      'x',
      new Date(3),
      [],
      {},
      [new Date(1), new Date(2)],
      { 2: new Date(1), 1: new Date(2), b: { 0: new Date(3) }, a: 'x' },
      { 'a.b': { 'c\\d': new Date(1), '': new Date(2) } },
      // The key '' at the root: its children's paths start with a dot (".0"), unlike the root's ("0").
      { '': [new Date(1)], x: { '': { '': new Date(2) } } },
      { '': new Date(1) },
      Object.assign(Object.create(null), { d: new Date(4) }),
      { items: Array.from({ length: 3 }, (_, i) => row(i)), nextCursor: null },
    ];
    for (const v of cases) sameBytes(v);
  });

  it('writes what superjson writes for any value', () => {
    const value = fc.anything({
      withDate: true,
      withMap: true,
      withSet: true,
      withBigInt: true,
      withNullPrototype: true,
      withSparseArray: true,
      withBoxedValues: true,
      withTypedArray: true,
      maxDepth: 4,
    });
    fc.assert(
      fc.property(value, (v) => sameBytes(v)),
      { numRuns: 500 },
    );
  });

  it('takes the fast path for a page of rows, and superjson for anything else', () => {
    const slow = vi.spyOn(superjson, 'serialize');
    serializeWire({ items: Array.from({ length: 100 }, (_, i) => row(i)), nextCursor: 'c' });
    expect(slow).not.toHaveBeenCalled();
    serializeWire({ items: [row(1)], m: new Map() });
    expect(slow).toHaveBeenCalledTimes(1);
  });
});

describe('deserializeWire', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reads malformed or foreign payloads as superjson does', () => {
    const cases: unknown[] = [
      { json: { a: 1 } },
      { json: null },
      { json: { a: '2020-01-01T00:00:00.000Z' }, meta: { values: { a: ['Date'] } } }, // v0: legacy paths
      { json: '2020-01-01T00:00:00.000Z', meta: { values: ['Date'], v: 1 } },
      { json: { a: 'x' }, meta: { values: { a: ['Date'] }, v: 1 } }, // not a date: an invalid Date, as superjson makes
      { json: { 'a.b': '2020-01-01T00:00:00.000Z' }, meta: { values: { 'a\\.b': ['Date'] }, v: 1 } },
      { json: { a: [1, 2] }, meta: { values: { a: ['set'] }, v: 1 } },
      { json: { a: 1, b: null }, meta: { referentialEqualities: { a: ['b'] }, v: 1 } },
    ];
    for (const payload of cases) sameValue(payload);
  });

  it('reads back what superjson wrote, for any value, leaving the payload alone', () => {
    const value = fc.anything({ withDate: true, withMap: true, withSet: true, withBigInt: true, maxDepth: 4 });
    fc.assert(
      fc.property(value, (v) => {
        let payload: unknown;
        try {
          payload = JSON.parse(JSON.stringify(superjson.serialize(v)));
        } catch {
          return; // superjson refuses it on the way out
        }
        sameValue(payload);
      }),
      { numRuns: 500 },
    );
  });

  it('takes the fast path for a page of rows and gives back the rows', () => {
    const page = { items: Array.from({ length: 100 }, (_, i) => row(i)), nextCursor: 'c' };
    const payload = JSON.parse(JSON.stringify(serializeWire(page)));
    const slow = vi.spyOn(superjson, 'deserialize');
    expect(deserializeWire(payload)).toEqual(page);
    expect(slow).not.toHaveBeenCalled();
  });
});
