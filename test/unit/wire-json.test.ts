import fc from 'fast-check';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { FORBIDDEN_JSON_KEYS, findForbiddenKey, inspectJson, MAX_JSON_DEPTH } from '../../shared/wire-json.ts';

const nest = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

/** Whether the wire format can send `v` and get it back unchanged. */
function roundTrips(v: unknown): boolean {
  try {
    const back = superjson.parse(superjson.stringify(v));
    expect(back).toEqual(v);
    return true;
  } catch {
    return false;
  }
}

describe('wire JSON rules', () => {
  it('accepts exactly what superjson can send back, for JSON with hostile key names', () => {
    const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom(...FORBIDDEN_JSON_KEYS));
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null)),
        fc.array(tie('node'), { maxLength: 4 }),
        // JSON.parse, like a request body, makes each key an own property, __proto__ included.
        fc.dictionary(key, tie('node'), { maxKeys: 4 }).map((o) => JSON.parse(JSON.stringify(o)) as unknown),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        const parsed = JSON.parse(JSON.stringify(v) ?? 'null') as unknown;
        const ok = !('problem' in inspectJson(parsed));
        // __proto__ survives neither way silently: superjson drops it on the way in, so refusing is the only honest answer.
        const hasProto = findForbiddenKey(parsed)?.path.at(-1) === '__proto__';
        expect(ok).toBe(!hasProto && roundTrips(parsed));
      }),
      { numRuns: 500 },
    );
  });

  it('names the path of a forbidden key at any depth', () => {
    const v = JSON.parse('{"a":[0,{"b":{"constructor":1}}]}') as unknown;
    expect(inspectJson(v)).toEqual({ problem: { path: ['a', 1, 'b', 'constructor'], message: expect.stringMatching(/'constructor'/) } });
    expect(findForbiddenKey(JSON.parse('{"x":{"__proto__":{"y":1}}}'))?.path).toEqual(['x', '__proto__']);
  });

  it('bounds depth without recursing, at a depth superjson still serializes', () => {
    expect(inspectJson(nest(MAX_JSON_DEPTH))).toEqual({ shape: { depth: MAX_JSON_DEPTH, keys: MAX_JSON_DEPTH } });
    expect(roundTrips(nest(MAX_JSON_DEPTH))).toBe(true);
    expect(inspectJson(nest(MAX_JSON_DEPTH + 1))).toMatchObject({ problem: { message: `nests deeper than ${MAX_JSON_DEPTH} levels` } });
    // Far past the stack: refused, not a RangeError.
    expect(inspectJson(nest(200_000))).toMatchObject({ problem: { path: [] } });
    expect(findForbiddenKey(nest(200_000))).toBeNull();
  });

  it('refuses what is not JSON', () => {
    for (const v of [undefined, Number.NaN, Number.POSITIVE_INFINITY, 1n, new Date(), new Map(), [undefined], { a: () => 1 }]) {
      expect(inspectJson(v), String(v)).toHaveProperty('problem');
    }
  });
});
