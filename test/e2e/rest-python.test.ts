import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';

const script = fileURLToPath(new URL('../python/rest_worker.py', import.meta.url));

function run(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [script, ...args]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe.each(BACKENDS)('a Python worker over REST (%s)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend, env: { COFFER_PART_SIZE: String(5 * 1024 * 1024) } });
  });
  afterAll(() => server.close());

  it('pushes two versions in parts, downloads, exports the latest and rolls back', async () => {
    const { apiKey } = await server.newTenant('python');
    const { code, out } = await run([server.url, apiKey, 'py-site']);
    expect(out).toMatch(/^ok /m);
    expect(code).toBe(0);
  }, 60_000);
});
