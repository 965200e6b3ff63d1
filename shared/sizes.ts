const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Sizes as people read them, in binary units: `1023 B`, `1.5 KiB`, `5.0 GiB`. */
export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  for (; v >= 1024 && i < UNITS.length - 1; i++) v /= 1024;
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${UNITS[i]}`;
}
