import { readdirSync, readFileSync } from 'node:fs';
import { cpuMs } from './coffer-process.ts';

/** Process names (/proc/PID/comm) counted as the S3 server when it runs outside the bench: Ceph's gateway and daemons. */
const S3_PROCESSES = new Set(['radosgw', 'ceph-osd', 'ceph-mon', 'ceph-mgr']);

export type CpuSplit = Record<'bench' | 'server' | 'postgres' | 's3', number>;

/**
 * CPU time so far (ms, user + system) of each party to a bench on this machine: the bench process
 * itself (its clients, and s3rver when that runs in-process), the Coffer server, every `postgres`
 * process and every Ceph process. On 2 shared cores a ratio is capped by what the other parties
 * cost per operation, so this shows which part of a gap is the server's. NaN without /proc.
 */
export function cpuSplit(serverPid: number): CpuSplit {
  const self = process.cpuUsage();
  const split: CpuSplit = { bench: (self.user + self.system) / 1000, server: cpuMs(serverPid), postgres: 0, s3: 0 };
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return { ...split, postgres: Number.NaN, s3: Number.NaN };
  }
  for (const pid of entries) {
    let comm: string;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue; // exited meanwhile
    }
    const cpu = () => cpuMs(Number(pid), true) || 0; // 0: exited meanwhile
    if (comm === 'postgres') split.postgres += cpu();
    else if (S3_PROCESSES.has(comm)) split.s3 += cpu();
  }
  return split;
}

/** Per-operation CPU (ms) of each party between two cpuSplit readings. */
export function perOp(before: CpuSplit, after: CpuSplit, ops: number): CpuSplit {
  const d = (k: keyof CpuSplit) => (after[k] - before[k]) / ops;
  return { bench: d('bench'), server: d('server'), postgres: d('postgres'), s3: d('s3') };
}
