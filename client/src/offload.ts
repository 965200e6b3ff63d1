import type { TRPCClient } from '@trpc/client';
import type { AppRouter, RouterInputs } from './wire.ts';

// Browser-safe: no node: imports here.

type Json = RouterInputs['artifact']['put']['payload'];
export type Metadata = Record<string, unknown>;

export interface OffloadOptions {
  /** Bytes (UTF-8 of JSON.stringify) the metadata may keep inline after phase 1. Default 8000; exactly this many stays inline. */
  threshold?: number;
  /** Stored on the created artifacts, so they can be listed (and expired) with the message they belong to. */
  entityType?: string;
  entityId?: string;
  /** Keys copied into the envelope when phase 2 runs (e.g. model, usage): what a list view reads without a fetch. */
  keep?: string[];
  /**
   * Kind of the phase-2 artifact. `memory_snapshot` by default: the message's state at one point,
   * kept as long as the conversation. Not `agent_trace` (operators expire traces early, which
   * would leave messages with dangling refs) nor `chat_transcript` (whose readers expect
   * transcripts when listing a chat). A deployment with a dedicated kind passes it here.
   */
  kind?: string;
  signal?: AbortSignal;
}

export const DEFAULT_OFFLOAD_THRESHOLD = 8000;
const TOOLS = 'tool_interactions';
const TOOLS_REF = 'tool_interactions_ref';
const TOOLS_COUNT = 'tool_interactions_count';
const METADATA_REF = 'artifact_metadata_ref';

type Client = Pick<TRPCClient<AppRouter>, 'artifact'>;

/** The size the threshold is measured in: UTF-8 bytes of the JSON text, what a JSON column stores. */
export const jsonBytes = (v: unknown): number => new TextEncoder().encode(JSON.stringify(v)).length;

/**
 * Keeps a chat message's metadata small by moving its large parts into Coffer, in two phases.
 * 1. A non-empty `tool_interactions` array always goes to a `tool_call_payload` artifact,
 *    leaving `tool_interactions_ref` (its id) and `tool_interactions_count`.
 * 2. If the rest is still over `threshold` bytes, all of it goes to one artifact, leaving an
 *    envelope: `artifact_metadata_ref`, the `keep` keys, and phase 1's ref and count.
 * The input is normalised through JSON first, so what is measured is what is stored.
 * If phase 2 fails, phase 1's artifact is deleted (best effort) before the error is rethrown.
 */
export async function offloadMetadata(client: Client, metadata: Metadata, opts: OffloadOptions = {}): Promise<Metadata> {
  const { threshold = DEFAULT_OFFLOAD_THRESHOLD, signal } = opts;
  const put = (kind: string, payload: unknown) =>
    client.artifact.put.mutate(
      { kind, payload: payload as Json, contentType: 'application/json', entityType: opts.entityType, entityId: opts.entityId },
      { signal },
    );
  let rest = JSON.parse(JSON.stringify(metadata)) as Metadata;
  let toolsRef: string | undefined;
  const tools = rest[TOOLS];
  if (Array.isArray(tools) && tools.length > 0) {
    toolsRef = (await put('tool_call_payload', tools)).id;
    const { [TOOLS]: _moved, ...others } = rest;
    rest = { ...others, [TOOLS_REF]: toolsRef, [TOOLS_COUNT]: tools.length };
  }
  if (jsonBytes(rest) <= threshold) return rest;
  try {
    const ref = (await put(opts.kind ?? 'memory_snapshot', rest)).id;
    const kept = Object.fromEntries((opts.keep ?? []).filter((k) => k in rest).map((k) => [k, rest[k]]));
    return { ...kept, [METADATA_REF]: ref, ...(toolsRef ? { [TOOLS_REF]: toolsRef, [TOOLS_COUNT]: rest[TOOLS_COUNT] } : {}) };
  } catch (err) {
    if (toolsRef) await client.artifact.delete.mutate({ id: toolsRef }).catch(() => {});
    throw err;
  }
}

/** True for metadata offloadMetadata moved anything out of. */
export const isOffloaded = (metadata: Metadata): boolean =>
  typeof metadata[METADATA_REF] === 'string' || typeof metadata[TOOLS_REF] === 'string';

/**
 * Reverses offloadMetadata: fetches what was moved out (artifact.get checks it against its
 * sha256) and returns the original metadata. Metadata without refs, such as rows written before
 * offloading existed, comes back untouched, so one read path serves old and new rows. Another
 * tenant's (or a deleted) ref rejects with the server's NOT_FOUND.
 */
export async function resolveMetadata(client: Client, envelope: Metadata, opts: { signal?: AbortSignal } = {}): Promise<Metadata> {
  const fetchPayload = async (id: unknown) => (await client.artifact.get.query({ id: String(id) }, { signal: opts.signal })).payload;
  let metadata = envelope;
  if (typeof metadata[METADATA_REF] === 'string') metadata = (await fetchPayload(metadata[METADATA_REF])) as Metadata;
  if (typeof metadata[TOOLS_REF] !== 'string') return metadata;
  const { [TOOLS_REF]: ref, [TOOLS_COUNT]: _count, ...others } = metadata;
  return { ...others, [TOOLS]: await fetchPayload(ref) };
}
