import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config/index.ts';

describe('loadConfig', () => {
  it('defaults to the embedded database and disk storage', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBeNull();
    expect(c.storage).toEqual({ kind: 'fs', root: './.coffer/objects' });
    expect(c.limits.maxInlineBytes).toBe(5 * 1024 * 1024);
    expect(c.allowedKinds).toContain('build_snapshot');
  });

  it('names every bad variable', () => {
    expect(() => loadConfig({ PORT: 'eighty', DATABASE_URL: 'nope', COFFER_STORAGE: 'ftp' })).toThrow(
      /PORT[\s\S]*DATABASE_URL|DATABASE_URL[\s\S]*PORT/,
    );
    expect(() => loadConfig({ COFFER_STORAGE: 'ftp' })).toThrow(/COFFER_STORAGE/);
  });

  it('requires bucket and credentials for s3, and derives the R2 endpoint', () => {
    expect(() => loadConfig({ COFFER_STORAGE: 's3', S3_BUCKET: 'bucket' })).toThrow(/S3_ACCESS_KEY_ID[\s\S]*S3_SECRET_ACCESS_KEY/);
    const c = loadConfig({ R2_ACCOUNT_ID: 'a'.repeat(32), S3_BUCKET: 'bucket', S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's' });
    expect(c.storage).toMatchObject({ kind: 's3', endpoint: `https://${'a'.repeat(32)}.r2.cloudflarestorage.com`, forcePathStyle: false });
    const minio = loadConfig({
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_BUCKET: 'bucket',
      S3_ACCESS_KEY_ID: 'k',
      S3_SECRET_ACCESS_KEY: 's',
    });
    expect(minio.storage).toMatchObject({ kind: 's3', forcePathStyle: true });
  });

  it('parses the kind allowlist', () => {
    expect(loadConfig({ COFFER_ALLOWED_KINDS: 'a_b, c' }).allowedKinds).toEqual(['a_b', 'c']);
    expect(() => loadConfig({ COFFER_ALLOWED_KINDS: 'Bad Kind' })).toThrow(/COFFER_ALLOWED_KINDS/);
  });
});
