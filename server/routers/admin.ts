import {
  apiKeyInfoSchema,
  createApiKeyInput,
  createdApiKeySchema,
  createTenantInput,
  createTenantOutput,
  revokeApiKeyInput,
} from '../../shared/schemas/admin.ts';
import * as admin from '../services/admin.ts';
import { adminProcedure, router } from '../trpc.ts';

export const adminRouter = router({
  createTenant: adminProcedure
    .input(createTenantInput)
    .output(createTenantOutput)
    .mutation(({ ctx, input }) => admin.createTenant(ctx.deps, input)),
  createApiKey: adminProcedure
    .input(createApiKeyInput)
    .output(createdApiKeySchema)
    .mutation(({ ctx, input }) => admin.createApiKey(ctx.deps, input)),
  revokeApiKey: adminProcedure
    .input(revokeApiKeyInput)
    .output(apiKeyInfoSchema)
    .mutation(({ ctx, input }) => admin.revokeApiKey(ctx.deps, input.keyId)),
});
