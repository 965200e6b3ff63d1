import { z } from 'zod';
import { idSchema } from './common.ts';

/** A limit in bytes or objects; null is no limit. */
const limit = z.number().int().min(0).nullable();
const source = z.enum(['plan', 'tenant']);

/** A tenant's quota and where it stands. `used` counts pending uploads: they reserve their declared size. */
export const quotaStatusSchema = z.object({
  plan: z.string(),
  bytes: limit,
  objects: limit,
  /** Each limit is the plan's (COFFER_QUOTAS) or the admin's override for this tenant. */
  source: z.object({ bytes: source, objects: source }),
  used: z.object({ bytes: z.number().int(), objects: z.number().int() }),
  /** What may still be stored; null where there is no limit. */
  remaining: z.object({ bytes: limit, objects: limit }),
});
export type QuotaStatus = z.infer<typeof quotaStatusSchema>;

/** Per field: a number, null for no limit, 'plan' to drop the override; absent leaves it as it is. */
const override = z.union([limit, z.literal('plan')]).optional();

export const setQuotaInput = z
  .object({ tenantId: idSchema, bytes: override, objects: override })
  .refine((i) => i.bytes !== undefined || i.objects !== undefined, { message: 'give bytes, objects or both' });
