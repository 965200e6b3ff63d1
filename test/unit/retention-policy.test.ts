import { describe, expect, it } from 'vitest';
import { artifactTtlDays, classifySnapshots, type SnapshotFacts } from '../../server/lifecycle/policy.ts';

const DAY = 24 * 60 * 60 * 1000;

/** One snapshot a day for two years, ending the day before `now`. */
function dailySnapshots(now: Date, days: number): SnapshotFacts[] {
  return Array.from({ length: days }, (_, i) => ({
    versionId: `v${i}`,
    createdAt: new Date(now.getTime() - (days - i) * DAY),
    pinned: false,
    current: false,
  }));
}

describe('classifySnapshots', () => {
  const now = new Date('2026-11-23T03:00:00Z');

  it('keeps the latest, the pinned, the current, each year’s first, the last year’s monthly firsts and the last 30 days', () => {
    const snaps = dailySnapshots(now, 730);
    snaps[100]!.pinned = true;
    snaps[200]!.current = true;
    const kept = [...classifySnapshots(snaps, now)].filter(([, r]) => r !== null);
    const byReason: Record<string, Array<[string, unknown]>> = {};
    for (const entry of kept) {
      byReason[entry[1]!] ??= [];
      byReason[entry[1]!]!.push(entry);
    }
    expect(byReason.pinned?.map(([id]) => id)).toEqual(['v100']);
    expect(byReason.current?.map(([id]) => id)).toEqual(['v200']);
    expect(byReason.latest?.map(([id]) => id)).toEqual(['v729']);
    // Calendar years 2024 (partial), 2025 and 2026: the first snapshot of each.
    const years = byReason.first_of_year!.map(([id]) =>
      snaps
        .find((s) => s.versionId === id)!
        .createdAt.toISOString()
        .slice(0, 10),
    );
    expect(years).toEqual(['2024-11-23', '2025-01-01', '2026-01-01']);
    // First of each month within the last 365 days (the year firsts are counted under first_of_year).
    const months = byReason.first_of_month!.map(([id]) =>
      snaps
        .find((s) => s.versionId === id)!
        .createdAt.toISOString()
        .slice(0, 10),
    );
    expect(months[0]).toBe('2025-12-01');
    expect(months).toHaveLength(11); // Dec 2025, Feb..Nov 2026 (Jan 2026 is a year first)
    for (const d of months) expect(d.endsWith('-01')).toBe(true);
    // Younger than 30 days: 29 daily snapshots, less the latest and Nov 1 (a month first).
    expect(byReason.recent).toHaveLength(27);
    expect(kept).toHaveLength(1 + 1 + 1 + 3 + 11 + 27);
  });

  it('never expires a lone snapshot, however old', () => {
    const old = [{ versionId: 'only', createdAt: new Date('2020-01-15T00:00:00Z'), pinned: false, current: false }];
    expect(classifySnapshots(old, now).get('only')).toBe('latest');
  });
});

describe('artifactTtlDays', () => {
  it('applies plan TTLs to tenant artifacts but never to snapshots and packs', () => {
    expect(artifactTtlDays('free', 'chat_transcript')).toBe(90);
    expect(artifactTtlDays('premium', 'chat_transcript')).toBeNull();
    expect(artifactTtlDays('free', 'build_snapshot')).toBeNull();
    expect(artifactTtlDays('unknown-plan', 'agent_trace')).toBe(90);
  });
});
