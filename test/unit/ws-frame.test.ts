import { describe, expect, it } from 'vitest';
import * as wsModule from 'ws';
import { textFrame } from '../../server/ws-fanout.ts';

/** ws's own framing classes, which it exports at run time but its type definitions leave out. */
const { Sender, Receiver } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] };
  Receiver: new (options: {
    isServer: boolean;
  }) => NodeJS.WritableStream & {
    on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): void;
  };
};

/**
 * The fan-out writes finished WebSocket frames to the TCP socket itself (server/ws-fanout.ts);
 * they must be the bytes ws's own Sender would have written, at every length encoding.
 */
describe('textFrame', () => {
  const frameOf = (n: number) => {
    const head = Buffer.from('{"id":7');
    const tail = Buffer.alloc(Math.max(0, n - head.length), 'x');
    return { head, tail, payload: Buffer.concat([head, tail]) };
  };

  for (const n of [7, 125, 126, 127, 65535, 65536, 70_000]) {
    it(`frames a ${n}-byte payload exactly as ws does`, () => {
      const { head, tail, payload } = frameOf(n);
      const ours = textFrame(head, tail);
      const theirs = Buffer.concat(Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
      expect(ours.equals(theirs)).toBe(true);
    });
  }

  it('is read back by a ws receiver as one text message', async () => {
    const { head, tail, payload } = frameOf(300);
    const receiver = new Receiver({ isServer: false });
    const got = new Promise<{ data: Buffer; isBinary: boolean }>((resolve) =>
      receiver.on('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })),
    );
    receiver.write(textFrame(head, tail));
    const { data, isBinary } = await got;
    expect(isBinary).toBe(false);
    expect(data.equals(payload)).toBe(true);
  });
});
