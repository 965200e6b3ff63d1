import {
  apiKeyInfoSchema,
  createApiKeyInput,
  createdApiKeySchema,
  createTenantInput,
  createTenantOutput,
  revokeApiKeyInput,
} from '../../shared/schemas/admin.ts';
import { adminListApiKeysInput, listApiKeysOutput, rotateApiKeyInput, rotateApiKeyOutput } from '../../shared/schemas/key.ts';
import { quotaStatusSchema, setQuotaInput } from '../../shared/schemas/quota.ts';
import * as keys from '../services/api-keys.ts';
import { setQuota } from '../services/quota.ts';
import { createTenant } from '../services/tenants.ts';
import { adminProcedure, router } from '../trpc.ts';

export const adminRouter = router({
  createTenant: adminProcedure
    .input(createTenantInput)
    .output(createTenantOutput)
    .mutation(({ ctx, input }) => createTenant(ctx.deps, input)),
  createApiKey: adminProcedure
    .input(createApiKeyInput)
    .output(createdApiKeySchema)
    .mutation(({ ctx, input }) => keys.createAnyKey(ctx.deps, input)),
  /** Any tenant's keys, newest first; never their secrets or hashes. */
  listApiKeys: adminProcedure
    .input(adminListApiKeysInput)
    .output(listApiKeysOutput)
    .query(({ ctx, input }) => keys.listAnyKeys(ctx.deps, input)),
  /** A successor with the same name and scopes; the old key works until now + graceSeconds. */
  rotateApiKey: adminProcedure
    .input(rotateApiKeyInput)
    .output(rotateApiKeyOutput)
    .mutation(({ ctx, input }) => keys.rotateAnyKey(ctx.deps, input)),
  revokeApiKey: adminProcedure
    .input(revokeApiKeyInput)
    .output(apiKeyInfoSchema)
    .mutation(({ ctx, input }) => keys.revokeAnyKey(ctx.deps, input.keyId)),
  /** Overrides a tenant's plan quota, field by field; answers the quota now in force and its usage. */
  setQuota: adminProcedure
    .input(setQuotaInput)
    .output(quotaStatusSchema)
    .mutation(({ ctx, input }) => setQuota(ctx.deps, input)),
});
