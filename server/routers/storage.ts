import { healthOutput } from '../../shared/schemas/storage.ts';
import { checkHealth } from '../services/health.ts';
import { authedProcedure, router } from '../trpc.ts';

export const storageRouter = router({
  health: authedProcedure.output(healthOutput).query(({ ctx }) => checkHealth(ctx.deps)),
});
