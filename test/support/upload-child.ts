/**
 * A worker uploading a file with `resume: true`, for the resume test: it runs in a child process
 * so the test can SIGKILL it mid-upload. Part PUTs are slowed down so the kill lands between
 * parts; every stored part is reported on stdout as `stored <bytes>`.
 */
import { createCofferClient } from '../../client/src/node.ts';

const { URL: url, TOKEN: token, FILE: file, RESUME_DIR: resumeDir, PUT_DELAY_MS } = process.env;
const realFetch = globalThis.fetch;
globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
  if (init?.method === 'PUT') await new Promise((r) => setTimeout(r, Number(PUT_DELAY_MS ?? 0)));
  return realFetch(input, init);
}) as typeof fetch;

const client = createCofferClient({ url: url!, token: token!, resumeDir });
const artifact = await client.upload(file!, {
  kind: 'attachment',
  resume: true,
  concurrency: 1,
  onProgress: (p) => process.stdout.write(`stored ${p.sentBytes}\n`),
});
process.stdout.write(`ready ${artifact.id} ${artifact.sha256}\n`);
await client.close();
