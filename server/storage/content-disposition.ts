/**
 * `attachment; filename="..."` per RFC 6266. Plain printable ASCII names are sent as they are;
 * anything else gets an ASCII fallback (unsafe characters become `_`) plus an RFC 5987
 * `filename*=UTF-8''...` that modern browsers prefer. Only adding `filename*` when needed keeps
 * the common case simple for tools that only read `filename`.
 */
export function attachmentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  if (fallback === filename) return `attachment; filename="${filename}"`;
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeRfc5987(filename)}`;
}

/** encodeURIComponent leaves `'()*` alone, but RFC 5987 attr-chars exclude them. */
function encodeRfc5987(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
