import type { AddressInfo } from 'node:net';
import superjson from 'superjson';
import { describe, expect, it, vi } from 'vitest';
import * as wsModule from 'ws';
import { WebSocket, WebSocketServer } from 'ws';
import { textFrame, wireEncoder, wireTransformer, wsChannel } from '../../server/ws-fanout.ts';
import type { CofferEvent } from '../../shared/schemas/events.ts';

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

/**
 * The fast path and its fallback deliver the same message: a socket with permessage-deflate
 * negotiated goes through ws.send (ws compresses), one without is written to the TCP socket.
 */
describe('wsChannel', () => {
  const event: CofferEvent = {
    id: 42,
    type: 'artifact_uploaded',
    createdAt: new Date('2026-11-29T05:00:00.000Z'),
    artifactId: '5b0c4a53-7d4e-4d0e-9d5f-0a4f1f1d2c3b',
    projectId: null,
    versionId: null,
    data: { kind: 'agent_trace', sizeBytes: 10, sha256: 'a'.repeat(64), filename: null, downloadReady: true },
  };
  // What tRPC's adapter sends for a tracked event (server/events/subscription.ts tracks by String(id)).
  const expected = { id: 7, jsonrpc: '2.0', result: { type: 'data', data: superjson.serialize({ id: '42', data: event }), id: '42' } };

  for (const deflate of [false, true]) {
    it(`${deflate ? 'with' : 'without'} permessage-deflate: the message tRPC would send, ${deflate ? 'through ws.send' : 'straight to the socket'}`, async () => {
      const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: deflate ? { threshold: 0 } : false });
      await new Promise((r) => server.once('listening', r));
      try {
        const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
        const { port } = server.address() as AddressInfo;
        const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: deflate });
        const received = new Promise<string>((resolve) => client.once('message', (data) => resolve(String(data))));
        const serverSide = await accepted;
        expect(Object.keys((serverSide as unknown as { _extensions: object })._extensions)).toEqual(deflate ? ['permessage-deflate'] : []);
        const send = vi.spyOn(serverSide, 'send');
        const channel = wsChannel(serverSide);
        // The first event goes the normal way, through the router's transformer and the adapter's encoder, which teach the channel its head.
        const first = wireTransformer.output.serialize({ id: '42', data: channel.handshake(event) });
        wireEncoder.encode({ id: 7, jsonrpc: '2.0', result: { type: 'data', data: first } });
        expect(channel.ready).toBe(true);
        channel.send(event);
        expect(JSON.parse(await received)).toEqual(JSON.parse(JSON.stringify(expected)));
        expect(send).toHaveBeenCalledTimes(deflate ? 1 : 0);
        client.close();
      } finally {
        await new Promise((r) => server.close(r));
      }
    });
  }
});
