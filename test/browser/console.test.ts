import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole } from '../../client/console/build.ts';
import type { CofferClient } from '../../client/src/index.ts';
import { createCofferClient } from '../../client/src/node.ts';
import { launchChromium } from '../support/chromium.ts';
import { BACKENDS, startTestServer, type TestServer } from '../support/server.ts';
import { putBytes, randomBody, sha256 } from '../support/upload.ts';

/** `CONSOLE_SCREENSHOT=client/console/screenshot.png npm run test:browser` refreshes the README's picture. */
const SCREENSHOT = process.env.CONSOLE_SCREENSHOT;

/** A build worker's part, run from the test process: declare the version, PUT the bytes later. */
async function startVersion(client: CofferClient, projectId: string, prompt: string, bytes: Uint8Array<ArrayBuffer>) {
  const { version, upload } = await client.version.create.mutate({
    projectId,
    source: 'build',
    prompt,
    snapshot: { sizeBytes: bytes.length, sha256: sha256(bytes), contentType: 'application/zip' },
  });
  const finish = async () => {
    await putBytes(client, version.snapshotArtifactId!, upload!, bytes);
    await client.artifact.completeUpload.mutate({ id: version.snapshotArtifactId! });
  };
  return { version, finish };
}

/** Clicks what starts a download and returns the downloaded file's sha256. */
async function downloadedSha(page: Page, trigger: Locator): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent('download'), trigger.click()]);
  const path = await download.path();
  return sha256(new Uint8Array(await readFile(path)));
}

// s3: downloads leave for the S3 endpoint's origin; fs: they stay on Coffer's own /files route.
describe.each(BACKENDS)('the console in Chromium (%s)', (backend) => {
  let server: TestServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const problems: string[] = [];
  let tenantA: Awaited<ReturnType<TestServer['newTenant']>>;

  beforeAll(async () => {
    await buildConsole(); // always the current source, whatever an earlier install built
    server = await startTestServer({ backend });
    profile = await mkdtemp(join(tmpdir(), 'coffer-chromium-'));
    context = await launchChromium(profile, { acceptDownloads: true, viewport: { width: 1280, height: 600 } });
    page = context.pages()[0] ?? (await context.newPage());
    // Script errors and CSP violations fail the test: the console must run under its own policy.
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on(
      'console',
      (m) => void (m.type() === 'error' && !m.text().startsWith('Failed to load resource') && problems.push(`console: ${m.text()}`)),
    );
    page.on('response', (r) => void (r.status() >= 400 && problems.push(`${r.status()} ${new URL(r.url()).pathname}`)));
  });
  afterEach(() => {
    expect(problems).toEqual([]);
  });
  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  const signIn = async (key: string) => {
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#live-status', { hasText: 'Live' }).waitFor();
  };
  const versionRow = (id: string) => page.locator(`tr[data-version-id="${id}"]`);

  it('is served with a strict CSP and no inline code', async () => {
    const res = await page.goto(`${server.url}/console`);
    const csp = res!.headers()['content-security-policy'] ?? '';
    for (const d of [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'self'",
    ])
      expect(csp).toContain(d);
    // This server's socket (not any ws: host) and the one origin signed part URLs point at.
    expect(csp).toMatch(/connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ http:\/\/127\.0\.0\.1:\d+;/);
    expect(csp).not.toContain('unsafe-inline');
    expect(await res!.text()).not.toMatch(/<script>|<style>|style="/);
  });

  it('signs in, follows a version to ready live, downloads, rolls back and pins', async () => {
    tenantA = await server.newTenant('console tenant');
    const a = tenantA;
    const v1Bytes = randomBody(30_000);
    const v1 = await startVersion(a.client, 'site', 'Landing page, first try', v1Bytes);
    await v1.finish();

    await signIn(a.apiKey);
    await page.getByRole('link', { name: 'Projects' }).click();
    await page.getByRole('link', { name: 'site' }).click();
    await versionRow(v1.version.id).and(page.locator('[data-status="ready"]')).waitFor();
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42; // survives only without a reload
    });
    // The socket drops (a deploy, a proxy timeout): the page resubscribes from its last event.
    const sockets = [...server.app.websocketServer.clients];
    expect(sockets.length).toBeGreaterThan(0);
    for (const ws of sockets) ws.terminate();

    const v2Bytes = randomBody(200_000);
    const v2 = await startVersion(a.client, 'site', 'Landing page with pricing', v2Bytes);
    await page.locator(`tr[data-version-id="${v2.version.id}"][data-status="uploading"]`).waitFor();
    await v2.finish();
    await page.locator(`tr[data-version-id="${v2.version.id}"][data-status="ready"]`).waitFor();
    const toast = page.locator('.toast', { hasText: 'Project site backup ready' });
    await toast.waitFor();
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    expect(await versionRow(v2.version.id).locator('.flags').textContent()).toContain('latest');

    expect(await downloadedSha(page, toast.getByRole('button', { name: 'Download' }))).toBe(sha256(v2Bytes));
    expect(await downloadedSha(page, versionRow(v1.version.id).getByRole('button', { name: 'Download' }))).toBe(sha256(v1Bytes));
    expect(await downloadedSha(page, page.getByRole('button', { name: 'Export latest' }))).toBe(sha256(v2Bytes));

    // Roll back: cancelling changes nothing, confirming makes v1 current.
    const dialog = page.getByRole('dialog');
    await versionRow(v1.version.id).getByRole('button', { name: 'Roll back' }).click();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await versionRow(v1.version.id).locator('.flags').textContent()).not.toContain('current');
    await versionRow(v1.version.id).getByRole('button', { name: 'Roll back' }).click();
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await versionRow(v1.version.id).locator('.badge-current').waitFor();
    expect((await a.client.version.get.query({ versionId: v1.version.id })).isCurrent).toBe(true);

    await versionRow(v1.version.id).getByRole('button', { name: 'Pin', exact: true }).click();
    await versionRow(v1.version.id).locator('.badge-pinned').waitFor();
    expect((await a.client.version.get.query({ versionId: v1.version.id })).pinned).toBe(true);
    await versionRow(v1.version.id).getByRole('button', { name: 'Unpin' }).click();
    await versionRow(v1.version.id).getByRole('button', { name: 'Pin', exact: true }).waitFor();
    expect((await a.client.version.get.query({ versionId: v1.version.id })).pinned).toBe(false);

    if (SCREENSHOT && backend === 's3') await page.screenshot({ path: SCREENSHOT });
  });

  it('lists, filters and deletes artifacts live, and shows API errors as their message', async () => {
    const other = await (await server.newTenant()).client.artifact.put.mutate({
      kind: 'chat_transcript',
      payload: {},
      entityType: 'chat',
      entityId: '42',
    });
    await page.getByRole('link', { name: 'Artifacts' }).click();
    const rows = page.locator('tr[data-artifact-id]');
    await expect.poll(() => rows.count()).toBe(2); // the two snapshots; never the other tenant's artifact
    expect(await page.locator(`tr[data-artifact-id="${other.id}"]`).count()).toBe(0);

    await page.getByLabel('Entity id').fill('42');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('tr.empty').waitFor();
    const mine = await tenantA.client.artifact.put.mutate({
      kind: 'chat_transcript',
      payload: { messages: [] },
      entityType: 'chat',
      entityId: '42',
    });
    const row = page.locator(`tr[data-artifact-id="${mine.id}"]`);
    await row.waitFor(); // arrived live, matching the filter
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.locator('tr.empty').waitFor();
    await expect(tenantA.client.artifact.getInfo.query({ id: mine.id })).rejects.toThrow(/not found/);

    await page.getByLabel('Kind').fill('x'.repeat(64));
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#error').waitFor();
    expect(await page.locator('#error').textContent()).toMatch(/^kind: Too big/);
    expect(problems).toEqual(['400 /trpc/artifact.list']); // the refused request, as it should be
    problems.length = 0;
    await page.getByLabel('Kind').fill('');
    await page.getByLabel('Entity id').fill('');
  });

  it("shows another tenant's key nothing of the first", async () => {
    const b = await server.newTenant('other tenant');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(b.apiKey);
    await page.getByRole('link', { name: 'Artifacts' }).click();
    await page.locator('tr.empty', { hasText: 'No artifacts match.' }).waitFor();
    await page.getByRole('link', { name: 'Projects' }).click();
    await page.locator('.project-list', { hasText: 'No projects yet.' }).waitFor();
    await page.goto(`${server.url}/console#projects/site`);
    await page.locator('#error', { hasText: 'project not found' }).waitFor();
    expect(await page.locator('tr[data-version-id]').count()).toBe(0);
    expect(await page.locator('#feed li').count()).toBe(0);
    // The NOT_FOUND above is the answer we wanted (alone, or in a batch with listProjects).
    expect(problems.every((p) => /^(404|207) \/trpc\//.test(p))).toBe(true);
    problems.length = 0;
  });
  it('asks for a rebuild from a version without snapshot; a listening worker answers and the row turns ready live', async () => {
    const t = await server.newTenant('console rebuild');
    const worker = createCofferClient({ url: server.url, token: t.apiKey });
    const stop = new AbortController();
    const zip = randomBody(4096);
    const serving = (async () => {
      for await (const e of worker.events({ types: ['rebuild_requested'] }, { signal: stop.signal }))
        await worker.upload(zip, { version: { versionId: e.versionId! } });
    })().catch((err: unknown) => {
      if (!stop.signal.aborted) throw err;
    });
    try {
      const { version } = await t.client.version.create.mutate({ projectId: 'rebuilt', source: 'build', prompt: 'a shop' });
      await page.locator('#sign-out').click(); // the tests before signed in with other keys
      await signIn(t.apiKey);
      await page.getByRole('link', { name: 'Projects' }).click();
      await page.getByRole('link', { name: 'rebuilt' }).click();
      await versionRow(version.id).and(page.locator('[data-status="no_snapshot"]')).waitFor();
      await versionRow(version.id).getByRole('button', { name: 'Rebuild' }).click();
      await versionRow(version.id).and(page.locator('[data-status="ready"]')).waitFor({ timeout: 20_000 });
      expect(await downloadedSha(page, versionRow(version.id).getByRole('button', { name: 'Download' }))).toBe(sha256(zip));
    } finally {
      stop.abort();
      await serving;
      await worker.close();
    }
  });
});
