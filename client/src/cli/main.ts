import { parseArgs } from 'node:util';
import { describeZodError } from '../../../shared/zod-issues.ts';
import { isCofferError } from '../index.ts';
import { createCofferClient } from '../node.ts';
import { COMMANDS } from './commands.ts';
import { resolveConnection } from './config.ts';
import { type CommandContext, OPTIONS } from './context.ts';
import { createOut, UsageError } from './output.ts';

const HELP = `coffer: push, pull and inspect Coffer artifacts and project versions

usage: coffer <command> [options]

  push <file|dir> --project P [-m M] [--resume]
                                       new version from a file, or a directory (zipped);
                                       --resume continues an interrupted push
  pull <versionId> | --latest P [-o F] download a version's snapshot, sha256-verified
  ls [--project P | --kind K]          artifacts (or a project's snapshots), newest first
  versions <project>                   a project's versions
  rollback <versionId>                 make a version its project's current one
  watch [--project P]                  live events, one line each, until Ctrl-C
  rebuilds --exec CMD [--project P]    serve rebuild requests: run CMD (it writes the zip to
                                       $COFFER_OUTPUT; $COFFER_VERSION_ID, $COFFER_PROJECT_ID and
                                       $COFFER_PROMPT say what to build), upload it as the snapshot
  put <kind> <file.json>               store a JSON payload
  get <id>                             print an artifact's JSON payload

options: --url, --token (else COFFER_URL, COFFER_TOKEN, else the config file
  ~/.config/coffer/config.json or --config F: {"url": "...", "token": "..."}),
  --json (machine-readable stdout), --limit N, --cursor C
exit codes: 0 ok, 1 failed, 2 wrong usage`;

/** One line for stderr: a Coffer error's code and message, else the error's message. */
function describeError(err: unknown): string {
  const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ');
  if (isCofferError(err)) {
    // A validation error's message is the zod issues as JSON; the flattened form reads better.
    const fields = err.data.zodError ? describeZodError(err.data.zodError) : [];
    return `${err.data.cofferCode ?? err.data.code}: ${oneLine(fields.length ? fields.join('; ') : err.message)}`;
  }
  if (err instanceof Error && err.name === 'AbortError') return 'interrupted';
  return oneLine(err instanceof Error ? err.message : String(err));
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args: CommandContext['args'];
  try {
    args = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`coffer: ${(err as Error).message} (see coffer --help)\n`);
    return 2;
  }
  const [name, ...positionals] = args.positionals;
  if (args.values.help || !name) {
    (name || args.values.help ? process.stdout : process.stderr).write(`${HELP}\n`);
    return args.values.help ? 0 : 2;
  }
  const command = COMMANDS[name];
  const out = createOut(args.values.json ?? false);
  const ctl = new AbortController();
  const onSigint = () => ctl.abort();
  process.once('SIGINT', onSigint);
  const client = await resolveConnection(args.values, env)
    .then((conn) => createCofferClient(conn))
    .catch((err: unknown) => err as Error);
  try {
    if (!command) throw new UsageError(`unknown command '${name}'`);
    if (client instanceof Error) throw client;
    await command({ client, out, args: { ...args, positionals }, signal: ctl.signal });
    return 0;
  } catch (err) {
    const usage = err instanceof UsageError;
    process.stderr.write(`coffer: ${describeError(err)}${usage ? ' (see coffer --help)' : ''}\n`);
    return usage ? 2 : ctl.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', onSigint);
    if (!(client instanceof Error)) await client.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
