import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../server/logger.ts';
import { byCreation, toPage } from '../../server/services/paging.ts';
import { artifactKey } from '../../shared/keys.ts';

describe('artifactKey', () => {
  it('lays keys out by tenant, kind and UTC date', () => {
    const at = new Date('2026-01-05T23:59:59Z');
    expect(artifactKey({ tenantId: 't1', kind: 'agent_trace', id: 'abc', contentType: 'application/json; charset=utf-8', at })).toBe(
      'tenants/t1/agent_trace/2026/01/05/abc.json',
    );
    expect(artifactKey({ tenantId: 't1', kind: 'attachment', id: 'x', contentType: 'weird/type', at })).toMatch(/\.bin$/);
  });
});

describe('cursor', () => {
  it('round-trips and rejects forgeries', () => {
    const row = { createdAt: new Date('2026-02-03T04:05:06.789Z'), id: '7b2f9d1e-3c4a-4b5d-8e6f-0a1b2c3d4e5f' };
    const { nextCursor } = toPage([row, row], 1, (r) => r, byCreation.key);
    expect(byCreation.after(nextCursor!)).toEqual(row);
    expect(toPage([row], 1, (r) => r, byCreation.key).nextCursor).toBeNull();
    for (const bad of [
      '',
      'abc',
      Buffer.from('[1,2]').toString('base64url'),
      Buffer.from('["2026-01-01T00:00:00Z"]').toString('base64url'),
    ]) {
      expect(() => byCreation.after(bad)).toThrow(/invalid cursor/);
    }
  });
});

describe('redactUrl', () => {
  it('hides signatures and credentials in logged URLs', () => {
    const u = redactUrl('/files/a?op=get&exp=1&sig=deadbeef&x=1');
    expect(u).toBe('/files/a?op=get&exp=1&sig=[redacted]&x=1');
    expect(redactUrl('/b/k?X-Amz-Credential=AKIA%2F&X-Amz-Signature=abc')).not.toMatch(/AKIA|abc/);
  });
});
