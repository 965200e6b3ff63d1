import type { ApiKeyScope } from '../../shared/constants.ts';

/** Who is calling, as authenticate() established it from the credential alone. */
export type Principal =
  | { kind: 'tenant'; tenantId: string; keyId: string; scopes: ApiKeyScope[] }
  | { kind: 'admin' }
  | { kind: 'anonymous'; reason?: string };
