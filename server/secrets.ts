import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

const secretsSchema = z.object({ adminToken: z.string().min(24), signingSecret: z.string().min(32), postgresPassword: z.string().min(16) });
export type Secrets = z.infer<typeof secretsSchema>;

/**
 * Secrets of a single-node install, generated on first start and kept in `<dataDir>/secrets.json`
 * (mode 0600). Environment values (COFFER_ADMIN_TOKEN, COFFER_SIGNING_SECRET) win; several
 * instances must share them through the environment.
 */
export async function loadOrCreateSecrets(dataDir: string): Promise<{ secrets: Secrets; created: boolean; path: string }> {
  const path = join(dataDir, 'secrets.json');
  if (existsSync(path)) {
    const parsed = secretsSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (!parsed.success) throw new Error(`${path} is damaged; restore it or remove it together with ${join(dataDir, 'postgres')}`);
    return { secrets: parsed.data, created: false, path };
  }
  const secrets: Secrets = {
    adminToken: `cofadm_${randomBytes(24).toString('base64url')}`,
    signingSecret: randomBytes(32).toString('base64url'),
    postgresPassword: randomBytes(18).toString('base64url'),
  };
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  await writeFile(path, JSON.stringify(secrets, null, 2), { mode: 0o600, flag: 'wx' });
  return { secrets, created: true, path };
}
