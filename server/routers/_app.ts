import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { router } from '../trpc.ts';
import { adminRouter } from './admin.ts';
import { artifactRouter } from './artifact.ts';
import { keyRouter } from './key.ts';
import { storageRouter } from './storage.ts';
import { versionRouter } from './version.ts';

export const appRouter = router({
  admin: adminRouter,
  artifact: artifactRouter,
  key: keyRouter,
  storage: storageRouter,
  version: versionRouter,
});

export type AppRouter = typeof appRouter;
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
