import fc from 'fast-check';
import superjson from 'superjson';

/** A raw answer: status, body text, and whether it was a server-sent event stream. */
export interface RawAnswer {
  status: number;
  text: string;
}

export type CallType = 'query' | 'mutation' | 'subscription';

/** Sends one call the way any HTTP client could: superjson-encoded input, no typed client. */
export async function sendCall(url: string, token: string | undefined, path: string, type: CallType, input: unknown): Promise<RawAnswer> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const encoded = input === undefined ? undefined : JSON.stringify(superjson.serialize(input));
  if (type === 'mutation') {
    return send(`${url}/trpc/${path}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: encoded ?? '',
    });
  }
  const qs = encoded === undefined ? '' : `?input=${encodeURIComponent(encoded)}`;
  return send(`${url}/trpc/${path}${qs}`, { headers }, type === 'subscription');
}

/** Sends a raw request; an event stream is read for a short while and then cancelled. */
export async function send(url: string, init: RequestInit, stream = false): Promise<RawAnswer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  if (!stream || !res.headers.get('content-type')?.includes('text/event-stream')) return { status: res.status, text: await res.text() };
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + 150;
  while (Date.now() < deadline && !/serialized-error|return/.test(text)) {
    const chunk = await Promise.race([
      reader.read(),
      new Promise<null>((r) => setTimeout(() => r(null), Math.max(1, deadline - Date.now()))),
    ]);
    if (!chunk || chunk.done) break;
    text += decoder.decode(chunk.value);
  }
  await reader.cancel().catch(() => {});
  return { status: res.status, text };
}

/** Strings that have broken path handling, encodings, logs or parsers somewhere before. */
const NASTY_STRINGS = [
  '../../../etc/passwd',
  '..',
  '.',
  '/',
  '/etc/passwd',
  'C:\\Windows\\win.ini',
  '..%2f..%2fetc',
  'a/../../b',
  'tenants/../../x',
  'nul\u0000byte',
  '\u0000',
  '%00',
  '\uD800',
  '\uDFFF',
  'a\uD800b',
  '\u202Eexe.txt',
  '\u200B',
  '\uFEFF',
  '😀'.repeat(40),
  'Ω≈ç√∫',
  '\r\nSet-Cookie: x=y',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell probe, sent as a literal string
  '${jndi:ldap://x}',
  '__proto__',
  'constructor',
  'prototype',
  ' ',
  '',
  '0',
  '-1',
  'NaN',
  'null',
  'true',
  '{}',
  '[]',
];

const NASTY_CHARS = [
  '\u0000',
  '\u0001',
  '\u001f',
  '\u007f',
  '\uD800',
  '\uDC00',
  '\uFFFF',
  '\u202E',
  '\u2028',
  '/',
  '\\',
  '..',
  '%',
  'a',
  'é',
  '😀',
];

const NASTY_NUMBERS = [
  -1,
  -0,
  0,
  0.5,
  1.5,
  NaN,
  Infinity,
  -Infinity,
  2 ** 31,
  2 ** 53,
  2 ** 53 + 2,
  1e21,
  1e308,
  -1e308,
  Number.MIN_VALUE,
  10_001,
  101,
];

/** `victimIds`: real ids of another tenant; `forged`: cursors and event ids that were never handed out. */
export function hostileValue(opts: { victimIds: string[]; forged: string[]; ownIds: string[]; hugeLength: number }): fc.Arbitrary<unknown> {
  const ids = [...opts.victimIds, ...opts.ownIds];
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    // Short strings made of the characters that break things: NUL and controls, lone surrogates, RTL, separators.
    { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom(...NASTY_CHARS), minLength: 1, maxLength: 12 }) },
    { weight: 2, arbitrary: fc.constantFrom(...NASTY_NUMBERS) },
    { weight: 3, arbitrary: ids.length ? fc.constantFrom(...ids) : fc.uuid() },
    { weight: 2, arbitrary: fc.constantFrom(...opts.forged) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.constant('x'.repeat(opts.hugeLength)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
    { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.bigInt(), fc.date({ noInvalidDate: false })) },
    { weight: 2, arbitrary: fc.constantFrom<unknown>(null, undefined, true, false, [], {}, [null], { id: null }) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom(...NASTY_STRINGS, ...ids), { maxLength: 5 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  );
}

/**
 * One input for a procedure: an arbitrary value, or a valid `seed` with one to three of its
 * fields (named by the procedure's zod schema, so new procedures are covered) made hostile.
 */
export function hostileInput(seed: unknown, fields: string[], value: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const base = seed && typeof seed === 'object' ? (seed as Record<string, unknown>) : {};
  const names = [...new Set([...fields, ...Object.keys(base)])];
  const anything = fc.anything({
    maxDepth: 3,
    maxKeys: 5,
    withBigInt: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
  });
  const mutated = names.length
    ? fc
        .array(fc.tuple(fc.constantFrom(...names), value), { minLength: 1, maxLength: 3 })
        .map((pairs) => ({ ...base, ...Object.fromEntries(pairs) }))
    : value;
  return fc.oneof({ weight: 1, arbitrary: anything }, { weight: 1, arbitrary: value }, { weight: 4, arbitrary: mutated });
}

/** Bodies no client would send: broken JSON, hostile superjson metadata, absurd nesting. */
export const malformedBodies: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    '{',
    '}',
    '[',
    'null',
    '[]',
    '"x"',
    '{"json":',
    '{"json":{}',
    '{"0":{"json":{}}}',
    'undefined',
    '\u0000',
    '{"json":"\uD800"}',
    '{"json":{"kind":"attachment","payload":1},"meta":{"values":{"payload":["bigint"]}}}',
    '{"json":{"a":"1"},"meta":{"values":{"__proto__.polluted":["undefined"]}}}',
    '{"json":{"a":{}},"meta":{"values":{"a":[["custom","nope"]]}}}',
    '{"json":{"a":1,"b":1},"meta":{"referentialEqualities":{"a":["__proto__"]}}}',
    '{"json":{"constructor":{"prototype":{"polluted":1}}}}',
    '{"__proto__":{"polluted":1},"json":{}}',
    `${'['.repeat(5000)}${']'.repeat(5000)}`,
    `{"json":${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}}`,
  ),
  fc.string({ maxLength: 200 }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
);
