import { describe, expect, it } from 'vitest';
import { matchesFilter } from '../../server/events/filter.ts';
import { type DirectChannel, Inbox } from '../../server/events/inbox.ts';
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
    inbox.push([uploaded(1), uploaded(2), uploaded(3)], 0, 3);
    expect(inbox.needsResync).toBe(false);
    inbox.push([uploaded(4)], 3, 4);
    expect(inbox.take()).toEqual({ events: [], after: -1, upTo: -1 });
    expect(inbox.needsResync).toBe(true);
    expect(inbox.overflows).toBe(1);
  });

  it('reports the range its queued pushes covered, filtered-out events included', () => {
    const inbox = new Inbox(10, (e) => e.id !== 2);
    inbox.push([uploaded(1), uploaded(2)], 0, 2);
    inbox.push([], 2, 5);
    expect(inbox.take()).toEqual({ events: [uploaded(1)], after: 0, upTo: 5 });
    expect(inbox.take()).toEqual({ events: [], after: -1, upTo: -1 });
  });

  it('fail() releases what is queued and reports SLOW_CONSUMER', () => {
    const inbox = new Inbox(10, () => true);
    inbox.push([uploaded(1)], 0, 1);
    inbox.fail('socket full');
    expect(inbox.take().events).toEqual([]);
    expect(inbox.failure?.code).toBe('SLOW_CONSUMER');
    inbox.push([uploaded(2)], 1, 2);
    expect(inbox.take().events).toEqual([]);
  });

  it('in direct mode sends what matches past its cursor, once, and leaves on a gap', async () => {
    const sent: number[] = [];
    let batches = 0;
    const direct: DirectChannel = {
      ready: true,
      handshake: (e) => e,
      send: (e) => void sent.push(e.id),
      batch: (fn) => {
        batches++;
        fn();
      },
      bufferedAmount: 0,
    };
    const inbox = new Inbox(10, (e) => e.id !== 4);
    inbox.goDirect(direct, 2);
    const waiting = inbox.wait();
    inbox.push([uploaded(1), uploaded(2), uploaded(3), uploaded(4), uploaded(5)], 0, 6);
    expect(sent).toEqual([3, 5]); // 1 and 2 were before the cursor, 4 is filtered out
    expect(batches).toBe(1);
    expect(inbox.idle).toBe(true); // the generator was not woken
    inbox.push([uploaded(9)], 8, 9); // 7 and 8 never came: a gap
    await waiting;
    expect(sent).toEqual([3, 5]);
    expect(inbox.needsResync).toBe(true);
    expect(inbox.leaveDirect(0)).toBe(6);
  });

  it('in direct mode cuts off a socket that does not drain', () => {
    const direct: DirectChannel = { ready: true, handshake: (e) => e, send: () => {}, batch: (fn) => fn(), bufferedAmount: 5000 };
    const inbox = new Inbox(10, () => true, 1000);
    inbox.goDirect(direct, 0);
    inbox.push([uploaded(1)], 0, 1);
    expect(inbox.failure?.code).toBe('SLOW_CONSUMER');
  });

  it('wakes a waiting generator on push, resync, close and abort', async () => {
    const inbox = new Inbox(10, () => true);
    const waiting = inbox.wait();
    inbox.push([uploaded(1)], 0, 1);
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
