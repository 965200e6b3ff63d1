import { buildApp } from './app.ts';
import { type Config, loadConfig, withSecrets } from './config/index.ts';
import { prepareDatabase } from './db/roles.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.ts';
import { startCleanupScheduler } from './lifecycle/scheduler.ts';
import { startRuntime } from './runtime.ts';
import { loadOrCreateSecrets } from './secrets.ts';
import { createStorage } from './storage/index.ts';

function readConfig(): Readonly<Config> {
  try {
    return loadConfig();
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}

let embedded: EmbeddedPostgres | undefined;

async function main(): Promise<void> {
  const fromEnv = readConfig();
  const { secrets, created, path } = await loadOrCreateSecrets(fromEnv.dataDir);
  const config = withSecrets(fromEnv, secrets);

  if (!config.databaseUrl) embedded = await startEmbeddedPostgres(config.dataDir, secrets.postgresPassword);
  const ownerUrl = config.databaseUrl ?? embedded!.url;
  const roleUrls = await prepareDatabase(ownerUrl, config.databaseRoleUrls);
  let onListenerError = (_err: unknown) => {};
  const runtime = await startRuntime(roleUrls, { onListenerError: (err) => onListenerError(err) });
  const { db, systemDb, events, credentials } = runtime;

  let publicUrl = config.publicUrl ?? `http://${config.host}:${config.port}`;
  const storage = createStorage(config.storage, { signingSecret: config.signingSecret, publicUrl: () => publicUrl });
  const deps = { config, db, systemDb, storage, events, credentials, now: () => new Date() };
  const app = await buildApp(deps);
  onListenerError = (err) => app.log.warn({ err }, 'event listener lost its database connection; reconnecting');
  const stopCleanup = startCleanupScheduler(deps, {
    onResult: (job, r) => app.log.info({ job, ...(r.status === 'ran' ? { run: r.run } : { status: r.status }) }, 'cleanup job finished'),
    onError: (job, err) => app.log.error({ err, job }, 'cleanup job failed'),
  });

  let stopping = false;
  const shutdown = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down: draining requests and closing sockets');
    // app.close() closes every WebSocket (clients reconnect to another instance and resume);
    // closing the hub afterwards ends any subscription generator still running.
    stopCleanup();
    await app.close().catch((err) => app.log.error({ err }, 'error while closing the server'));
    await runtime.close().catch(() => {});
    await embedded?.stop().catch((err) => app.log.error({ err }, 'error while stopping embedded PostgreSQL'));
    process.exit(exitCode);
  };
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => void shutdown(s));

  try {
    const address = await app.listen({ port: config.port, host: config.host });
    publicUrl = config.publicUrl ?? address;
  } catch (err) {
    app.log.error({ err }, 'could not listen');
    return shutdown('listen-failed', 1);
  }
  app.log.info(`Coffer listening on ${publicUrl} (storage: ${storage.backend}, database: ${embedded ? 'embedded' : 'external'})`);
  if (created) {
    // Shown once, on the terminal only (not through the logger): this is how an operator gets in.
    process.stdout.write(`\nFirst start: generated secrets in ${path}\n  admin token: ${secrets.adminToken}\n\n`);
  }
}

main().catch(async (err) => {
  console.error(err instanceof Error ? err.message : err);
  await embedded?.stop().catch(() => {});
  process.exit(1);
});
