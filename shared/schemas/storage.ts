import { z } from 'zod';

const check = z.object({ ok: z.boolean(), latencyMs: z.number(), error: z.string().optional() });

/** Reachability, never secrets: settings appear only as "present or not". */
export const healthOutput = z.object({
  ok: z.boolean(),
  database: check,
  storage: check.extend({ backend: z.enum(['s3', 'fs']) }),
  settings: z.record(z.string(), z.boolean()),
});
export type Health = z.infer<typeof healthOutput>;
