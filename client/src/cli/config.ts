import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from './output.ts';

export interface Connection {
  url: string;
  token: string;
}

/** `$XDG_CONFIG_HOME/coffer/config.json`, else `~/.config/coffer/config.json`. */
export function defaultConfigPath(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'coffer', 'config.json');
}

async function readConfigFile(path: string, explicit: boolean): Promise<Partial<Connection>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    // The default file is optional; one named with --config must exist.
    if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UsageError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as { url?: unknown; token?: unknown };
    return {
      url: typeof parsed.url === 'string' ? parsed.url : undefined,
      token: typeof parsed.token === 'string' ? parsed.token : undefined,
    };
  } catch {
    throw new UsageError(`config file ${path} is not valid JSON (expected {"url": "...", "token": "..."})`);
  }
}

/** Flags override the environment (COFFER_URL, COFFER_TOKEN), which overrides the config file. */
export async function resolveConnection(
  flags: { url?: string; token?: string; config?: string },
  env: NodeJS.ProcessEnv,
): Promise<Connection> {
  const file = await readConfigFile(flags.config ?? defaultConfigPath(env), flags.config !== undefined);
  const url = flags.url ?? env.COFFER_URL ?? file.url;
  const token = flags.token ?? env.COFFER_TOKEN ?? file.token;
  if (!url) throw new UsageError('no server URL: pass --url, set COFFER_URL, or put "url" in the config file');
  if (!token) throw new UsageError('no API key: pass --token, set COFFER_TOKEN, or put "token" in the config file');
  return { url, token };
}
