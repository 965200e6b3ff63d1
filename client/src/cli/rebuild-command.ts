import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatBytes } from '../../../shared/sizes.ts';
import { isCofferError } from '../index.ts';
import type { CofferEvent } from '../wire.ts';
import type { CommandContext } from './context.ts';
import { UsageError } from './output.ts';

type RebuildRequest = Extract<CofferEvent, { type: 'rebuild_requested' }>;

/**
 * `rebuilds --exec CMD [--project P]`: a build worker. For each rebuild request from now on, runs
 * CMD through the shell with COFFER_VERSION_ID, COFFER_PROJECT_ID, COFFER_PROMPT and
 * COFFER_OUTPUT (where CMD writes the zip) in its environment, then uploads that file as the
 * version's snapshot; the version turns ready as usual. One request at a time; a failed build is
 * reported on stderr and the next request is served. CMD's own output goes to stderr.
 */
export async function rebuilds({ client, out, args, signal }: CommandContext) {
  const command = args.values.exec;
  if (!command) throw new UsageError('usage: coffer rebuilds --exec "<command that writes $COFFER_OUTPUT>" [--project P]');
  const project = args.values.project;
  const requests = client.events({ types: ['rebuild_requested'], ...(project ? { projectId: project } : {}) }, { signal });
  out.note(`waiting for rebuild requests${project ? ` of ${project}` : ''}`);
  for await (const e of requests) {
    if (e.type !== 'rebuild_requested' || !e.versionId) continue;
    try {
      const { version, artifact } = await rebuild({ client, signal }, e, command);
      out.result({ version, artifact }, () => `rebuilt version ${version.id} of ${version.projectId} (${formatBytes(artifact.sizeBytes)})`);
    } catch (err) {
      if (signal.aborted) throw err;
      // Another worker answering first is not a failure of this one.
      const why = isCofferError(err) && err.data.cofferCode === 'CONFLICT' ? 'another worker is uploading it' : (err as Error).message;
      out.note(`rebuild of version ${e.versionId} skipped: ${why}`);
    }
  }
}

async function rebuild({ client, signal }: Pick<CommandContext, 'client' | 'signal'>, e: RebuildRequest, command: string) {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-rebuild-'));
  try {
    const output = join(dir, 'snapshot.zip');
    const env = {
      ...process.env,
      COFFER_VERSION_ID: e.versionId!,
      COFFER_PROJECT_ID: e.projectId ?? '',
      COFFER_PROMPT: e.data.prompt ?? '',
      COFFER_OUTPUT: output,
    };
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('sh', ['-c', command], { env, stdio: ['ignore', 2, 2], signal });
      child.once('error', reject).once('exit', resolve);
    });
    if (code !== 0) throw new Error(`the command exited with ${code}`);
    if (!(await stat(output).catch(() => null))?.isFile()) throw new Error('the command wrote nothing to $COFFER_OUTPUT');
    return await client.upload(output, { version: { versionId: e.versionId! }, contentType: 'application/zip', signal });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
