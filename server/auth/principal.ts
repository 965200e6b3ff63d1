import type { ApiKeyScope } from '../../shared/constants.ts';

/** Who is calling, as authenticate() established it from the credential alone. */
export type Principal =
  /** `expiresAt`: end of a rotated key's grace period (its open WebSockets close then). */
  | { kind: 'tenant'; tenantId: string; keyId: string; scopes: ApiKeyScope[]; expiresAt: Date | null }
  | { kind: 'admin' }
  | { kind: 'anonymous'; reason?: string };
