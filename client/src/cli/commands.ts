import { readFile } from 'node:fs/promises';
import { formatBytes } from '../../../shared/sizes.ts';
import type { CofferEvent } from '../wire.ts';
import type { CommandContext } from './context.ts';
import { table, UsageError } from './output.ts';
import { rebuilds } from './rebuild-command.ts';
import { pull, push } from './transfer-commands.ts';

const date = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function limitOf(args: CommandContext['args']) {
  if (args.values.limit === undefined) return undefined;
  const n = Number(args.values.limit);
  if (!Number.isInteger(n) || n < 1) throw new UsageError('--limit must be a positive integer');
  return n;
}

/** `ls [--kind K]`: the tenant's artifacts, newest first. `ls --project P`: the project's snapshots. */
async function ls({ client, out, args, signal }: CommandContext) {
  const { project, kind, cursor } = args.values;
  if (project && kind) throw new UsageError('usage: coffer ls [--project P | --kind K]');
  if (project) {
    const page = await client.version.list.query({ projectId: project, limit: limitOf(args), cursor }, { signal });
    const rows = page.items
      .filter((v) => v.snapshot)
      .map((v) => [
        v.snapshot!.artifactId,
        'build_snapshot',
        v.status,
        formatBytes(v.snapshot!.sizeBytes),
        date(v.createdAt),
        `version ${v.id}`,
      ]);
    return out.result(page, () => table(rows));
  }
  const page = await client.artifact.list.query({ kind, limit: limitOf(args), cursor }, { signal });
  const rows = page.items.map((a) => [a.id, a.kind, a.status, formatBytes(a.sizeBytes), date(a.createdAt), a.filename ?? a.entityId ?? '']);
  out.result(page, () => table(rows) + (page.nextCursor ? `\n(more: --cursor ${page.nextCursor})` : ''));
}

async function versions({ client, out, args, signal }: CommandContext) {
  const [projectId] = args.positionals;
  if (!projectId) throw new UsageError('usage: coffer versions <project>');
  const page = await client.version.list.query({ projectId, limit: limitOf(args), cursor: args.values.cursor }, { signal });
  const flags = (v: (typeof page.items)[number]) =>
    [v.isCurrent && 'current', v.isLatest && 'latest', v.pinned && 'pinned'].filter(Boolean).join(',');
  const rows = page.items.map((v) => [
    v.id,
    v.status,
    v.snapshot ? formatBytes(v.snapshot.sizeBytes) : '-',
    date(v.createdAt),
    flags(v) || '-',
    v.message ?? '',
  ]);
  out.result(page, () => table(rows));
}

async function rollback({ client, out, args, signal }: CommandContext) {
  const [versionId] = args.positionals;
  if (!versionId) throw new UsageError('usage: coffer rollback <versionId>');
  const result = await client.version.rollback.mutate({ versionId }, { signal });
  out.result(result, () => `${result.version.projectId} is now at version ${result.version.id}\ndownload: ${result.download.downloadUrl}`);
}

/** `put <kind> <file.json>`: stores the file's JSON as an artifact. */
async function put({ client, out, args, signal }: CommandContext) {
  const [kind, file] = args.positionals;
  if (!kind || !file) throw new UsageError('usage: coffer put <kind> <file.json>');
  let payload: unknown;
  try {
    payload = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  const artifact = await client.artifact.put.mutate({ kind, payload: payload as never }, { signal });
  out.result(artifact, () => `stored ${artifact.id} (${artifact.kind}, ${formatBytes(artifact.sizeBytes)})`);
}

/** `get <id>`: the artifact's JSON payload (with --json: `{ artifact, payload }`). */
async function get({ client, out, args, signal }: CommandContext) {
  const [id] = args.positionals;
  if (!id) throw new UsageError('usage: coffer get <id>');
  const got = await client.artifact.get.query({ id }, { signal });
  out.result(got, () => JSON.stringify(got.payload, null, 2));
}

const describe = (e: CofferEvent) => {
  const subject = e.artifactId ?? e.versionId ?? e.projectId ?? '-';
  const data = Object.entries(e.data).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [date(e.createdAt), e.type, subject, ...data].join(' ');
};

/** `watch [--project P]`: live events until interrupted, one line (or one JSON document) each. */
async function watch({ client, out, args, signal }: CommandContext) {
  const filter = args.values.project ? { projectId: args.values.project } : {};
  for await (const e of client.events(filter, { signal })) out.result(e, () => describe(e));
}

export const COMMANDS: Record<string, (ctx: CommandContext) => Promise<void>> = {
  push,
  pull,
  ls,
  versions,
  rollback,
  watch,
  rebuilds,
  put,
  get,
};
