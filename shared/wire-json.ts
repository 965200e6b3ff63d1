/**
 * The JSON Coffer stores and later sends back: payloads and metadata. Everything stored must be
 * sendable again, or one row breaks every list that includes it; so the rules of the wire format
 * (superjson over JSON) are checked here, on the way in, before anything is written:
 * - no `__proto__`, `constructor` or `prototype` key at any depth: superjson refuses to serialize
 *   them (prototype-pollution guard). On the way in, superjson's deserialize silently drops
 *   `__proto__` keys instead, so the server also looks for them in the raw input (server/wire.ts);
 * - at most MAX_JSON_DEPTH levels of nesting: superjson and zod recurse, and past roughly a
 *   thousand levels they overflow the stack on the way out even when the way in succeeded;
 * - JSON values only (finite numbers, plain objects), as z.json() would have it.
 * The walk is iterative, so it cannot itself overflow on hostile nesting.
 */

import type { JSONType } from 'zod';

/** Any JSON value: what payloads and metadata values may be (zod's, the type z.json() infers). */
export type { JSONType };

/** Keys the wire format refuses to send: they would make a stored row unanswerable. */
export const FORBIDDEN_JSON_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Deepest nesting of a stored JSON value (an object or array is one level). */
export const MAX_JSON_DEPTH = 100;

export type JsonPath = Array<string | number>;

/** What is wrong with a value, and where (relative to it). */
export interface JsonProblem {
  path: JsonPath;
  message: string;
}

/** The size of a valid value: nesting levels (a scalar is 0) and object keys at every depth. */
export interface JsonShape {
  depth: number;
  keys: number;
}

const isPlainObject = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

function describe(v: unknown): string | null {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return null;
  if (typeof v === 'number') return Number.isFinite(v) ? null : 'must be a finite number';
  if (typeof v === 'object') return Array.isArray(v) || isPlainObject(v) ? null : 'must be JSON: a plain object, not a class instance';
  return `must be JSON, not ${typeof v}`;
}

/**
 * One node of a walk. Nodes link to their parent instead of carrying their path, so a walk
 * costs O(nodes) even on hostile nesting; a path is spelled out only for the one problem found.
 */
interface Node {
  v: unknown;
  key: string | number | null;
  parent: Node | null;
  depth: number;
}

function pathOf(node: Node | null): JsonPath {
  const path: JsonPath = [];
  for (let n = node; n && n.key !== null; n = n.parent) path.push(n.key);
  return path.reverse();
}

/** Children of an array or object node, last first (so a stack pops them in order). */
function pushChildren(stack: Node[], node: Node, obj: object): void {
  const depth = node.depth + 1;
  if (Array.isArray(obj)) {
    for (let i = obj.length - 1; i >= 0; i--) stack.push({ v: obj[i], key: i, parent: node, depth });
    return;
  }
  const names = Object.keys(obj);
  for (let i = names.length - 1; i >= 0; i--) {
    const key = names[i]!;
    stack.push({ v: (obj as Record<string, unknown>)[key], key, parent: node, depth });
  }
}

const forbiddenKeyMessage = (key: string) =>
  `the key '${key}' cannot be stored: Coffer's wire format (superjson) refuses __proto__, constructor and prototype keys`;

/** Checks `value` against the rules above: the first problem found, or the value's shape. */
export function inspectJson(value: unknown, maxDepth = MAX_JSON_DEPTH): { problem: JsonProblem } | { shape: JsonShape } {
  const stack: Node[] = [{ v: value, key: null, parent: null, depth: 0 }];
  let deepest = 0;
  let keys = 0;
  while (stack.length) {
    const node = stack.pop()!;
    if (typeof node.key === 'string' && FORBIDDEN_JSON_KEYS.has(node.key)) {
      return { problem: { path: pathOf(node), message: forbiddenKeyMessage(node.key) } };
    }
    const wrong = describe(node.v);
    if (wrong) return { problem: { path: pathOf(node), message: wrong } };
    if (node.v === null || typeof node.v !== 'object') continue;
    // The level this container opens: the root object is level 1.
    const level = node.depth + 1;
    if (level > maxDepth) return { problem: { path: [], message: `nests deeper than ${maxDepth} levels` } };
    deepest = Math.max(deepest, level);
    if (!Array.isArray(node.v)) keys += Object.keys(node.v).length;
    pushChildren(stack, node, node.v);
  }
  return { shape: { depth: deepest, keys } };
}

/**
 * The first FORBIDDEN_JSON_KEYS key anywhere in `value` (own keys, as JSON.parse makes them),
 * with a message, or null. Iterative, like inspectJson, and with no other rule.
 */
export function findForbiddenKey(value: unknown): JsonProblem | null {
  const stack: Node[] = [{ v: value, key: null, parent: null, depth: 0 }];
  while (stack.length) {
    const node = stack.pop()!;
    if (typeof node.key === 'string' && FORBIDDEN_JSON_KEYS.has(node.key))
      return { path: pathOf(node), message: forbiddenKeyMessage(node.key) };
    if (node.v !== null && typeof node.v === 'object') pushChildren(stack, node, node.v);
  }
  return null;
}

/** `label.a.0.b`: a problem's path as the caller wrote it. */
export const jsonPathText = (label: string, path: JsonPath): string => [label, ...path].join('.');
