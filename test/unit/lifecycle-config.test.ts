import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config/index.ts';
import { DEFAULT_POLICY, mergePolicy } from '../../server/config/retention.ts';
import { artifactTtlDays, policyForPlan } from '../../server/lifecycle/policy.ts';
import { nextRun } from '../../server/lifecycle/scheduler.ts';

describe('retention policy configuration', () => {
  it('merges COFFER_RETENTION_POLICY over the defaults, field by field', () => {
    const { policy } = loadConfig({
      COFFER_RETENTION_POLICY: JSON.stringify({
        snapshots: { regularDays: 14 },
        snapshotsByPlan: { premium: { firstOfMonthDays: 730 } },
        artifactTtlDays: { free: { agent_trace: 7 } },
      }),
    }).lifecycle;
    expect(policy.snapshots).toEqual({ regularDays: 14, firstOfMonthDays: 365, firstOfYearDays: null });
    expect(artifactTtlDays('free', 'agent_trace', policy)).toBe(7);
    expect(artifactTtlDays('free', 'chat_transcript', policy)).toBe(90); // free's '*' survives the merge
    expect(policyForPlan(policy, 'premium').snapshots).toEqual({ regularDays: 14, firstOfMonthDays: 730, firstOfYearDays: null });
    expect(policyForPlan(policy, 'pro').snapshots.firstOfMonthDays).toBe(365);
    expect(mergePolicy(DEFAULT_POLICY)).toEqual(DEFAULT_POLICY);
  });

  it('names the variable when the policy is not JSON or not a policy', () => {
    expect(() => loadConfig({ COFFER_RETENTION_POLICY: '{nope' })).toThrow(/COFFER_RETENTION_POLICY: must be JSON/);
    expect(() => loadConfig({ COFFER_RETENTION_POLICY: '{"snapshots":{"regularDays":-1}}' })).toThrow(/COFFER_RETENTION_POLICY/);
    expect(() => loadConfig({ COFFER_RETENTION_POLICY: '{"snapshot":{}}' })).toThrow(/COFFER_RETENTION_POLICY/);
  });

  it('parses the daily schedule and the prices', () => {
    expect(loadConfig({}).lifecycle).toMatchObject({
      schedule: { hour: 3, minute: 0 },
      orphanGraceHours: 24,
      costAlertUsd: 100,
      prices: { storageGbMonth: 0.015 },
    });
    expect(loadConfig({ COFFER_CLEANUP_SCHEDULE: '30 4 * * *' }).lifecycle.schedule).toEqual({ hour: 4, minute: 30 });
    expect(loadConfig({ COFFER_CLEANUP_SCHEDULE: 'off' }).lifecycle.schedule).toBeNull();
    expect(() => loadConfig({ COFFER_CLEANUP_SCHEDULE: '*/5 * * * *' })).toThrow(/COFFER_CLEANUP_SCHEDULE/);
  });
});

describe('nextRun', () => {
  it('fires later today, or tomorrow once the time has passed', () => {
    const at3 = { hour: 3, minute: 0 };
    expect(nextRun(new Date('2026-11-23T02:59:00Z'), at3).toISOString()).toBe('2026-11-23T03:00:00.000Z');
    expect(nextRun(new Date('2026-11-23T03:00:00Z'), at3).toISOString()).toBe('2026-11-24T03:00:00.000Z');
    expect(nextRun(new Date('2026-12-31T23:00:00Z'), at3).toISOString()).toBe('2027-01-01T03:00:00.000Z');
  });
});
