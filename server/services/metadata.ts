import { inspectJson } from '../../shared/wire-json.ts';
import type { MetadataLimits } from '../config/index.ts';
import { CofferError } from '../errors.ts';

/**
 * Metadata is returned with every list page and every artifact answer, so its size is bounded
 * (COFFER_MAX_METADATA_BYTES / _DEPTH / _KEYS) where it enters, not just by the HTTP body limit;
 * what is bigger belongs in the payload, or moves there with the client's offloadMetadata. The
 * wire-format rules (no poison keys, JSON only) were checked by the input schema already.
 */
export function assertMetadataLimits(limits: MetadataLimits, metadata: Record<string, unknown> | undefined): void {
  if (!metadata) return;
  const bytes = Buffer.byteLength(JSON.stringify(metadata), 'utf8');
  if (bytes > limits.maxBytes) {
    throw new CofferError(
      'TOO_LARGE',
      `metadata is ${bytes} bytes of JSON; the limit is ${limits.maxBytes} bytes (COFFER_MAX_METADATA_BYTES). Put large values in the payload, or use the client's offloadMetadata`,
    );
  }
  const found = inspectJson(metadata);
  if ('problem' in found) throw new CofferError('BAD_INPUT', `metadata ${found.problem.message}`);
  const { depth, keys } = found.shape;
  if (depth > limits.maxDepth) {
    throw new CofferError('BAD_INPUT', `metadata nests ${depth} levels deep; the limit is ${limits.maxDepth} (COFFER_MAX_METADATA_DEPTH)`);
  }
  if (keys > limits.maxKeys) {
    throw new CofferError('BAD_INPUT', `metadata has ${keys} keys; the limit is ${limits.maxKeys} (COFFER_MAX_METADATA_KEYS)`);
  }
}
