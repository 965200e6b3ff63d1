import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole } from '../../client/console/build.ts';
import { MiB } from '../../shared/constants.ts';
import { launchChromium } from '../support/chromium.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { randomBody, sha256 } from '../support/upload.ts';

/** A part PUT's number, from its signed URL (…/uploads/<tenant>/<artifact>/<n>?…). */
const partOf = (url: string) => Number(/\/uploads\/[^/]+\/[^/]+\/(\d+)\?/.exec(url)?.[1] ?? 0);

describe.each(BACKENDS)('uploading from the console (%s)', (backend) => {
  let server: TestServer;
  let context: BrowserContext;
  let page: Page;
  let dir: string;
  const problems: string[] = [];

  beforeAll(async () => {
    await buildConsole();
    server = await startTestServer({ backend, env: { COFFER_PART_SIZE: String(5 * MiB) } });
    // S3: the bucket must let the console's origin PUT parts (fs: same origin, nothing to do).
    if (backend === 's3') await server.admin.storage.applyBucketCors.mutate({ origins: [server.url] });
    dir = await mkdtemp(join(tmpdir(), 'coffer-chromium-upload-'));
    context = await launchChromium(join(dir, 'profile'));
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  });
  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('uploads a file, shows progress, and resumes after a reload sending only the missing part', async () => {
    const t = await server.newTenant('browser upload');
    const bytes = randomBody(12 * MiB + 99); // three parts
    const file = join(dir, `site-${backend}.zip`);
    await writeFile(file, bytes);

    await page.goto(`${server.url}/console`);
    await page.getByLabel('API key').fill(t.apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#live-status', { hasText: 'Live' }).waitFor();
    await page.getByRole('link', { name: 'Upload' }).click();

    // Parts 1 and 2 go through; part 3 hangs, as on a link that died mid-upload.
    const held: Route[] = [];
    await page.route(
      (url) => partOf(url.href) > 0,
      (route) => {
        if (route.request().method() === 'PUT' && partOf(route.request().url()) === 3) held.push(route);
        else void route.continue();
      },
    );
    await page.setInputFiles('#upload-file', file);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.locator('#upload-status', { hasText: 'Uploading' }).waitFor();
    await expect
      .poll(
        async () => {
          const [pending] = (await t.client.artifact.list.query({ status: 'pending' })).items;
          return pending ? (await t.client.artifact.getUpload.query({ id: pending.id })).parts.map((p) => p.partNumber) : [];
        },
        { timeout: 20_000 },
      )
      .toEqual([1, 2]);
    await expect.poll(() => held.length, { timeout: 10_000 }).toBeGreaterThan(0);
    await expect
      .poll(() => page.locator('#upload-progress').evaluate((el) => (el as HTMLProgressElement).value), { timeout: 10_000 })
      .toBe((10 * MiB) / bytes.length);

    // Reload while part 3 still hangs (the tab dies with it), and only then let the network heal.
    await page.reload();
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await page.locator('#live-status', { hasText: 'Live' }).waitFor(); // still signed in (session storage)
    await page.getByRole('link', { name: 'Upload' }).click();
    await page.locator('#upload-interrupted', { hasText: `site-${backend}.zip` }).waitFor();

    const puts: number[] = [];
    page.on('request', (r) => void (r.method() === 'PUT' && partOf(r.url()) && puts.push(partOf(r.url()))));
    await page.setInputFiles('#upload-file', file);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.locator('#upload-status', { hasText: 'Uploaded' }).waitFor({ timeout: 30_000 });
    expect(puts).toEqual([3]);
    const [artifact] = (await t.client.artifact.list.query({})).items;
    expect(artifact).toMatchObject({ status: 'ready', sha256: sha256(bytes), sizeBytes: bytes.length, filename: `site-${backend}.zip` });
    expect(await page.locator('#upload-interrupted li').count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it('cancels an upload: nothing is stored and the upload ends failed', async () => {
    const t = await server.newTenant('browser cancel');
    const file = join(dir, `cancel-${backend}.bin`);
    await writeFile(file, randomBody(12 * MiB));
    // A new tab: its session storage holds no key, so it starts signed out.
    page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    await page.goto(`${server.url}/console`);
    await page.getByLabel('API key').fill(t.apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#live-status', { hasText: 'Live' }).waitFor();
    await page.getByRole('link', { name: 'Upload' }).click();
    await page.route(
      (url) => partOf(url.href) === 2,
      () => {},
    ); // part 2 hangs until cancelled
    await page.setInputFiles('#upload-file', file);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.locator('#upload-status', { hasText: 'Uploading' }).waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('#upload-status', { hasText: 'Cancelled' }).waitFor();
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await expect
      .poll(async () => (await t.client.artifact.list.query({})).items.map((a) => [a.status, a.failureReason]), { timeout: 10_000 })
      .toEqual([['failed', 'aborted by the client']]);
  });
});
