import type { parseArgs } from 'node:util';
import type { NodeCofferClient } from '../node.ts';
import type { Out } from './output.ts';

/** What every command gets: the connected client, where output goes, its parsed arguments, Ctrl-C. */
export interface CommandContext {
  client: NodeCofferClient;
  out: Out;
  args: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  signal: AbortSignal;
}

/** One option table for every command: each command reads the ones it takes. */
export const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  project: { type: 'string' },
  message: { type: 'string', short: 'm' },
  latest: { type: 'string' },
  output: { type: 'string', short: 'o' },
  kind: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  resume: { type: 'boolean' },
  exec: { type: 'string' },
} as const;
