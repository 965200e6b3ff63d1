import { describe, expect, it } from 'vitest';
import { matchesFilter } from '../../server/events/filter.ts';
import { Inbox } from '../../server/events/inbox.ts';
import type { CofferEvent } from '../../shared/schemas/events.ts';

const A = '00000000-0000-4000-8000-00000000000a';
const uploaded = (id: number, kind = 'agent_trace', artifactId: string | null = A): CofferEvent => ({
  id,
  type: 'artifact_uploaded',
  createdAt: new Date(0),
  artifactId,
  projectId: null,
  versionId: null,
  data: { kind, sizeBytes: 1, sha256: 'x', filename: null, downloadReady: true },
});

describe('Inbox (a subscription buffer)', () => {
  it('stays bounded: past max it drops the queue and asks for a re-read instead of growing', () => {
    const inbox = new Inbox(3, () => true);
    inbox.push([uploaded(1), uploaded(2), uploaded(3)]);
    expect(inbox.needsResync).toBe(false);
    inbox.push([uploaded(4)]);
    expect(inbox.take()).toEqual([]);
    expect(inbox.needsResync).toBe(true);
    expect(inbox.overflows).toBe(1);
  });

  it('fail() releases what is queued and reports SLOW_CONSUMER', () => {
    const inbox = new Inbox(10, () => true);
    inbox.push([uploaded(1)]);
    inbox.fail('socket full');
    expect(inbox.take()).toEqual([]);
    expect(inbox.failure?.code).toBe('SLOW_CONSUMER');
    inbox.push([uploaded(2)]);
    expect(inbox.take()).toEqual([]);
  });

  it('wakes a waiting generator on push, resync, close and abort', async () => {
    const inbox = new Inbox(10, () => true);
    const waiting = inbox.wait();
    inbox.push([uploaded(1)]);
    await waiting;
    inbox.take();
    const ac = new AbortController();
    const aborted = inbox.wait(ac.signal);
    ac.abort();
    await aborted;
    const closing = inbox.wait();
    inbox.close();
    await closing;
  });

  it('keeps only what the filter matches; kinds leave out events without a kind', () => {
    const match = matchesFilter({ kinds: ['attachment'], artifactId: A });
    expect(match(uploaded(1, 'attachment'))).toBe(true);
    expect(match(uploaded(2, 'agent_trace'))).toBe(false);
    expect(match(uploaded(3, 'attachment', null))).toBe(false);
    const cleanup: CofferEvent = {
      id: 4,
      type: 'cleanup_completed',
      createdAt: new Date(0),
      artifactId: null,
      projectId: null,
      versionId: null,
      data: { job: 'j', dryRun: false, examined: 0, deleted: 0, bytesFreed: 0 },
    };
    expect(matchesFilter({ kinds: ['attachment'] })(cleanup)).toBe(false);
    expect(matchesFilter({ types: ['cleanup_completed'] })(cleanup)).toBe(true);
  });
});
