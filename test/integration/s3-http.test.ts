import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { StorageConfig } from '../../server/config/index.ts';
import { objectAddress, S3Http, S3HttpError } from '../../server/storage/s3-http.ts';

/**
 * The retry and timeout rules of the lean object client (server/storage/s3-http.ts), against a
 * local HTTP server that misbehaves on cue. Its requests against real S3 servers are covered by
 * the storage contract suite.
 */
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: Handler): Promise<{ client: S3Http; requests: () => number }> {
  let n = 0;
  const server = http.createServer((req, res) => req.resume().on('end', () => handler(req, res, ++n)));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const config: Extract<StorageConfig, { kind: 's3' }> = {
    kind: 's3',
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    bucket: 'b',
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'secret',
    forcePathStyle: true,
  };
  return { client: new S3Http(config, { connectionTimeoutMs: 500, requestTimeoutMs: 300 }), requests: () => n };
}

const s3Error = (res: http.ServerResponse, status: number, code: string) =>
  res.writeHead(status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0"?><Error><Code>${code}</Code></Error>`);

describe('S3Http', () => {
  it('signs a path-style request with the key percent-encoded', async () => {
    let seen: http.IncomingHttpHeaders = {};
    let url = '';
    const { client } = await serve((req, res) => {
      seen = req.headers;
      url = req.url ?? '';
      res.end();
    });
    await client.put('t/a b(1).json', Buffer.from('{}'), 'application/json');
    expect(url).toBe('/b/t/a%20b%281%29.json');
    expect(seen.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/s3\/aws4_request, /);
    expect(seen['x-amz-content-sha256']).toBe('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    expect(seen['content-type']).toBe('application/json');
  });

  it('puts the bucket in the host name where it can be one, as the AWS SDK does', () => {
    const base = { kind: 's3', region: 'auto', accessKeyId: 'a', secretAccessKey: 's', forcePathStyle: false } as const;
    const r2 = new URL('https://acct.r2.cloudflarestorage.com');
    expect(objectAddress({ ...base, bucket: 'builds' }, r2, 't/x y.json')).toEqual({
      hostname: 'builds.acct.r2.cloudflarestorage.com',
      path: '/t/x%20y.json',
    });
    // Dots under TLS, capitals, and forced path style all keep the bucket in the path.
    for (const bucket of ['my.builds', 'MyBuilds']) {
      expect(objectAddress({ ...base, bucket }, r2, 'k')).toEqual({ hostname: 'acct.r2.cloudflarestorage.com', path: `/${bucket}/k` });
    }
    const minio = new URL('http://127.0.0.1:9000/prefix/');
    expect(objectAddress({ ...base, bucket: 'b', forcePathStyle: true }, minio, 'k')).toEqual({
      hostname: '127.0.0.1',
      path: '/prefix/b/k',
    });
  });

  it('retries a 5xx answer once, then gives up with its code and status', async () => {
    const { client, requests } = await serve((_req, res, n) => (n === 1 ? s3Error(res, 503, 'SlowDown') : res.end()));
    await client.put('k', Buffer.from('x'), 'text/plain');
    expect(requests()).toBe(2);

    const failing = await serve((_req, res) => s3Error(res, 500, 'InternalError'));
    const err = await failing.client.get('k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3HttpError);
    expect(err).toMatchObject({ name: 'InternalError', $metadata: { httpStatusCode: 500 } });
    expect(failing.requests()).toBe(2);
  });

  it('does not retry a 4xx answer', async () => {
    const { client, requests } = await serve((_req, res) => s3Error(res, 403, 'SignatureDoesNotMatch'));
    await expect(client.get('k')).rejects.toMatchObject({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
    expect(requests()).toBe(1);
  });

  it('names a 404 without a body NotFound', async () => {
    const { client } = await serve((_req, res) => res.writeHead(404).end());
    await expect(client.get('k')).rejects.toMatchObject({ name: 'NotFound', $metadata: { httpStatusCode: 404 } });
  });

  it('gives up on a server that stops answering, before the answer and in the middle of a body', async () => {
    const silent = await serve(() => {});
    const started = Date.now();
    await expect(silent.client.get('k')).rejects.toThrow(/timed out/);
    expect(Date.now() - started).toBeLessThan(2_000); // two attempts of 300 ms, and a pause
    expect(silent.requests()).toBe(2);

    const stalling = await serve((_req, res) => res.writeHead(200, { 'content-length': '10' }).write('01234'));
    const { body } = await stalling.client.get('k');
    await expect(body.toArray()).rejects.toThrow(/timed out|aborted/);
  });
});
