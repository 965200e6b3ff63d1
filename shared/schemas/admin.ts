import { z } from 'zod';
import { API_KEY_SCOPES } from '../constants.ts';
import { idSchema } from './common.ts';

export const tenantSchema = z.object({ id: z.uuid(), name: z.string(), plan: z.string(), createdAt: z.date() });

export const apiKeyInfoSchema = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.enum(API_KEY_SCOPES)),
  createdAt: z.date(),
  lastUsedAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
  expiresAt: z.date().nullable(),
});

/** Returned only when a key is created: `key` is the secret and is never shown again. */
export const createdApiKeySchema = apiKeyInfoSchema.extend({ key: z.string() });

const scopesSchema = z.array(z.enum(API_KEY_SCOPES)).min(1).default(['read', 'write']);

export const createTenantInput = z.object({
  name: z.string().trim().min(1).max(200),
  plan: z.enum(['free', 'pro', 'premium']).default('free'),
});
export const createTenantOutput = z.object({ tenant: tenantSchema, apiKey: createdApiKeySchema });

export const createApiKeyInput = z.object({ tenantId: idSchema, name: z.string().trim().min(1).max(200), scopes: scopesSchema });
export const revokeApiKeyInput = z.object({ keyId: idSchema });
