import { and, eq, inArray, lte, notInArray, or, type SQL } from 'drizzle-orm';
import type { RetentionPolicy } from '../config/retention.ts';
import { artifacts, tenants } from '../db/schema/index.ts';
import { expireArtifacts, finishDeleted } from './expire.ts';
import type { JobContext } from './job-context.ts';
import { artifactTtlDays, classifySnapshots, policyForPlan, VERSIONED_KINDS } from './policy.ts';
import { artifactPageWithPlan, cutoff, type Doomed, projectsWithSnapshots, readySnapshots } from './queries.ts';

/** Projects classified per page of the project walk. */
const PROJECT_PAGE = 200;

/**
 * The retention job: first finishes removals a crash left half done, then expires project
 * snapshots (classifySnapshots) and tenant artifacts past their plan's TTL (artifactTtlDays).
 * policy.ts decides; this file only finds candidates and hands them to expireArtifacts.
 *
 * Version rows stay when their snapshot expires: they are a few hundred bytes of history (prompt,
 * message, source), `version.download` then answers `available: false, canRebuild: true`, and
 * diff packs that name them stay valid. Their status becomes `no_snapshot` through the join.
 */
export async function runRetention(job: JobContext): Promise<void> {
  await finishDeleted(job);
  await expireSnapshots(job);
  await expireByTtl(job);
}

async function expireSnapshots(job: JobContext): Promise<void> {
  const policy = job.deps.config.lifecycle.policy;
  let after: { tenantId: string; projectId: string } | null = null;
  const pending: Doomed[] = [];
  for (;;) {
    const page = await projectsWithSnapshots(job.deps.systemDb, { after, limit: PROJECT_PAGE });
    if (page.length === 0) break;
    after = page.at(-1)!;
    for (const project of page) {
      pending.push(...(await expiredOfProject(job, project, policy)));
      if (pending.length >= job.batchSize) {
        await expireArtifacts(job, pending.splice(0, job.batchSize), ['ready'], { skipPinned: true });
      }
    }
  }
  while (pending.length) await expireArtifacts(job, pending.splice(0, job.batchSize), ['ready'], { skipPinned: true });
}

async function expiredOfProject(
  job: JobContext,
  p: { tenantId: string; projectId: string; plan: string },
  policy: RetentionPolicy,
): Promise<Doomed[]> {
  const rows = await readySnapshots(job.deps.db, p);
  job.stats.examine(p.tenantId, rows.length);
  const facts = rows.map((r) => ({
    versionId: r.versionId,
    createdAt: r.versionCreatedAt,
    pinned: r.pinned,
    current: r.currentVersionId === r.versionId,
  }));
  const verdicts = classifySnapshots(facts, job.now, policyForPlan(policy, p.plan).resolved);
  return rows.filter((r) => verdicts.get(r.versionId) === null).map((r) => r.artifact);
}

/**
 * Tenant artifacts past their TTL. SQL narrows the candidates with the same rules (so the walk
 * reads only likely expiries); artifactTtlDays then decides each one.
 */
async function expireByTtl(job: JobContext): Promise<void> {
  const policy = job.deps.config.lifecycle.policy;
  const where = ttlCandidates(policy, job.now);
  if (!where) return;
  let afterId: string | null = null;
  for (;;) {
    const rows = await artifactPageWithPlan(job.deps.systemDb, { where, afterId, limit: job.batchSize });
    if (rows.length === 0) return;
    afterId = rows.at(-1)!.id;
    const expired = rows.filter((r) => {
      job.stats.examine(r.tenantId);
      const ttl = artifactTtlDays(r.plan, r.kind, policy);
      return ttl !== null && r.createdAt <= cutoff(job.now, ttl);
    });
    await expireArtifacts(job, expired, ['ready', 'failed']);
  }
}

/** Ready or failed (a failed row has no bytes but still lists) non-versioned artifacts older than some TTL of their plan. */
function ttlCandidates(policy: RetentionPolicy, now: Date): SQL | undefined {
  const plans = Object.keys(policy.artifactTtlDays);
  // `and(x, undefined)` is x in drizzle, so a plan whose kinds never expire is left out explicitly.
  const perPlan: SQL[] = [];
  for (const plan of plans) {
    const rules = kindRules(policy.artifactTtlDays[plan]!, now);
    if (rules) perPlan.push(and(eq(tenants.plan, plan), rules)!);
  }
  const fallback = kindRules(policy.artifactTtlDays.free ?? {}, now);
  if (fallback) perPlan.push(plans.length ? and(notInArray(tenants.plan, plans), fallback)! : fallback);
  if (perPlan.length === 0) return undefined;
  const anyPlan = or(...perPlan);
  return and(inArray(artifacts.status, ['ready', 'failed']), notInArray(artifacts.kind, [...VERSIONED_KINDS]), anyPlan);
}

/** Null when no kind of the plan expires (premium): that plan drops out of the OR. */
function kindRules(rules: Record<string, number | null>, now: Date): SQL | undefined {
  const named = Object.keys(rules).filter((k) => k !== '*');
  const parts: Array<SQL | undefined> = named
    .filter((k) => rules[k] != null)
    .map((k) => and(eq(artifacts.kind, k), lte(artifacts.createdAt, cutoff(now, rules[k]!))));
  const star = rules['*'];
  if (star != null)
    parts.push(and(named.length ? notInArray(artifacts.kind, named) : undefined, lte(artifacts.createdAt, cutoff(now, star))));
  return parts.length ? or(...parts) : undefined;
}
