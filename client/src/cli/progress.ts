import { formatBytes } from '../../../shared/sizes.ts';

export interface Progress {
  update(done: number, total: number): void;
  /** Clears the bar's line, so the result prints on a clean one. */
  finish(): void;
}

const noop: Progress = { update: () => {}, finish: () => {} };
const WIDTH = 24;

const duration = (s: number) =>
  s < 60
    ? `${Math.ceil(s)}s`
    : s < 3600
      ? `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`
      : `${(s / 3600).toFixed(1)}h`;

/**
 * A one-line bar on stderr: bytes, rate and ETA. Only on a terminal (never in CI logs or
 * pipes, where carriage returns become noise), redrawn at most ten times a second.
 */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr, now = () => Date.now()): Progress {
  if (!stream.isTTY) return noop;
  const started = now();
  let lastDraw = 0;
  return {
    update(done, total) {
      const t = now();
      if (t - lastDraw < 100 && done < total) return;
      lastDraw = t;
      const ratio = total > 0 ? Math.min(1, done / total) : 1;
      const rate = done / Math.max(0.001, (t - started) / 1000);
      const eta = rate > 0 && done < total ? ` ETA ${duration((total - done) / rate)}` : '';
      const bar = '#'.repeat(Math.round(ratio * WIDTH)).padEnd(WIDTH, '-');
      stream.write(
        `\r${label} [${bar}] ${(ratio * 100).toFixed(0).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s${eta}\x1b[K`,
      );
    },
    finish: () => void stream.write('\r\x1b[K'),
  };
}
