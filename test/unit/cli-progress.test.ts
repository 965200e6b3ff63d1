import { describe, expect, it } from 'vitest';
import { progressBar } from '../../client/src/cli/progress.ts';
import { formatBytes } from '../../shared/sizes.ts';

const fakeStream = (isTTY: boolean) => {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream };
};

describe('CLI progress bar', () => {
  it('draws bytes, rate and ETA on a terminal, at most ten times a second, and clears its line', () => {
    const { writes, stream } = fakeStream(true);
    let now = 0;
    const bar = progressBar('push site', stream, () => now);
    now = 2000;
    bar.update(4 * 1024 * 1024, 16 * 1024 * 1024);
    now = 2050;
    bar.update(5 * 1024 * 1024, 16 * 1024 * 1024); // within 100 ms: skipped
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain('push site [######------------------]  25% 4.0 MiB/16.0 MiB 2.0 MiB/s ETA 6s');
    now = 8000;
    bar.update(16 * 1024 * 1024, 16 * 1024 * 1024);
    expect(writes[1]).toMatch(/100% 16\.0 MiB\/16\.0 MiB .*\/s/);
    expect(writes[1]?.endsWith('\x1b[K')).toBe(true);
    bar.finish();
    expect(writes.at(-1)).toBe('\r\x1b[K');
  });

  it('draws nothing when stderr is not a terminal (pipes, CI logs)', () => {
    const { writes, stream } = fakeStream(false);
    const bar = progressBar('pull', stream);
    bar.update(1, 2);
    bar.finish();
    expect(writes).toEqual([]);
  });

  it('formats sizes in binary units', () => {
    expect([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(5 * 1024 ** 3)]).toEqual([
      '0 B',
      '1023 B',
      '1.5 KiB',
      '5.0 GiB',
    ]);
  });
});
