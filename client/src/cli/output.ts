/** A mistake in how the CLI was called: exit code 2, as most Unix tools do. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Out {
  json: boolean;
  /** One JSON document per call with --json; the human text otherwise. */
  result(value: unknown, human: () => string): void;
  /** Notes for a person, on stderr; none with --json, where only errors go to stderr. */
  note(line: string): void;
}

export function createOut(
  json: boolean,
  stdout: NodeJS.WritableStream = process.stdout,
  stderr: NodeJS.WritableStream = process.stderr,
): Out {
  return {
    json,
    result: (value, human) => void stdout.write(`${json ? JSON.stringify(value) : human()}\n`),
    note: (line) => void (json || stderr.write(`${line}\n`)),
  };
}

/** Left-aligned columns, for lists a person reads. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '(none)';
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}
