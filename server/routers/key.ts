import { apiKeyInfoSchema, createdApiKeySchema } from '../../shared/schemas/admin.ts';
import {
  createOwnApiKeyInput,
  keyIdInput,
  listApiKeysInput,
  listApiKeysOutput,
  rotateApiKeyInput,
  rotateApiKeyOutput,
} from '../../shared/schemas/key.ts';
import * as keys from '../services/api-keys.ts';
import { keyAdminProcedure, router } from '../trpc.ts';

/**
 * A tenant's self-service over its own API keys, for keys with the `admin` scope. A namespace of
 * its own rather than `admin.*`: `admin.*` is the operator's, authenticated by the admin token
 * across all tenants, and one namespace answering to two kinds of principal would blur exactly
 * the line the base procedures draw. Keys are not artifacts, versions or storage either; `key`
 * follows the house rule of singular nouns (and unkey's `key` router). The operator's
 * equivalents are `admin.listApiKeys/createApiKey/rotateApiKey/revokeApiKey` with a tenantId.
 */
export const keyRouter = router({
  list: keyAdminProcedure
    .input(listApiKeysInput)
    .output(listApiKeysOutput)
    .query(({ ctx, input }) => keys.listOwnKeys(ctx.tenant, input)),
  create: keyAdminProcedure
    .input(createOwnApiKeyInput)
    .output(createdApiKeySchema)
    .mutation(({ ctx, input }) => keys.createOwnKey(ctx.deps, ctx.tenant, input)),
  rotate: keyAdminProcedure
    .input(rotateApiKeyInput)
    .output(rotateApiKeyOutput)
    .mutation(({ ctx, input }) => keys.rotateOwnKey(ctx.deps, ctx.tenant, input)),
  revoke: keyAdminProcedure
    .input(keyIdInput)
    .output(apiKeyInfoSchema)
    .mutation(({ ctx, input }) => keys.revokeOwnKey(ctx.deps, ctx.tenant, input.keyId)),
});
