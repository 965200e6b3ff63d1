import type { Socket } from 'node:net';
import type { Encoder } from '@trpc/server/adapters/ws';
import superjson from 'superjson';
import type { WebSocket } from 'ws';
import type { CofferEvent } from '../shared/schemas/events.ts';
import { serializeWire } from '../shared/wire-codec.ts';
import type { DirectChannel } from './events/inbox.ts';
import { wireInput } from './wire.ts';

/**
 * Live events at wire speed, with tRPC's wire format unchanged.
 *
 * tRPC's WebSocket adapter sends each subscription value on its own: it resumes the
 * subscription's generator, races it against the stop signal, runs the value through the
 * transformer (superjson), stringifies the message and sends it; for 1,000 subscribers of one
 * tenant that is 1,000 serializations of the same event. Here each event is serialized once per
 * instance (`tailOf`, cached on the event object the hub hands every subscription), and a
 * subscription that is idle sends it itself: its own message head (`{"id":<request id>` and the
 * client's `"jsonrpc"`, if it sent one) followed by those shared bytes, which is exactly what
 * tRPC would have sent (test/e2e/events-wire.test.ts compares them byte for byte).
 *
 * The request id is learned from tRPC itself: a subscription's first event is yielded the normal
 * way, wrapped in a Handshake; the router's transformer serializes it exactly like the bare event
 * and tags the result with the channel, and the adapter's encoder, which sees the whole message,
 * reads the id off it. Over SSE (no encoder) the tag is ignored and nothing changes.
 */

const CHANNEL = Symbol('coffer.ws-channel');
const WS_OPEN = 1;
const PERMESSAGE_DEFLATE = 'permessage-deflate';

class Handshake {
  readonly event: CofferEvent;
  readonly channel: WsChannel;

  constructor(event: CofferEvent, channel: WsChannel) {
    this.event = event;
    this.channel = channel;
  }
}

/** tRPC hands the output transformer `{ id, data }` for a tracked value. */
const isTrackedHandshake = (v: unknown): v is { id: string; data: Handshake } =>
  typeof v === 'object' && v !== null && (v as { data?: unknown }).data instanceof Handshake;

/** The router's transformer: superjson both ways (inputs screened by wire.ts), plus the handshake tag on the way out. */
export const wireTransformer = {
  input: wireInput,
  output: {
    serialize(value: unknown) {
      if (!isTrackedHandshake(value)) return serializeWire(value);
      // A copy of the event's shared serialization: every subscription's first event is this one
      // until the fast path takes over, so a thousand handshakes cost one superjson pass.
      const { event } = value.data;
      const out = value.id === String(event.id) ? { ...serializedOf(event) } : superjson.serialize({ id: value.id, data: event });
      Object.defineProperty(out, CHANNEL, { value: value.data.channel, enumerable: false });
      return out;
    },
    deserialize: (value: unknown) => superjson.deserialize(value as Parameters<typeof superjson.deserialize>[0]),
  },
};

/** tRPC's own JSON encoder, reading the request id of tagged messages on the way. */
export const wireEncoder: Encoder = {
  encode(message) {
    const data = (message as { result?: { data?: Record<symbol, unknown> } } | null)?.result?.data;
    const channel = data?.[CHANNEL];
    if (channel instanceof WsChannel) {
      const m = message as { id: string | number; jsonrpc?: string };
      channel.learn(m.id, m.jsonrpc);
    }
    return JSON.stringify(message);
  },
  decode(data) {
    if (typeof data !== 'string')
      throw new Error('jsonEncoder received binary data. JSON uses text frames. Use a binary encoder for binary data.');
    return JSON.parse(data);
  },
};

/** superjson of each event as tRPC sends a tracked value ({ id, data }), made once per instance. */
const serialized = new WeakMap<CofferEvent, ReturnType<typeof superjson.serialize>>();

function serializedOf(event: CofferEvent): ReturnType<typeof superjson.serialize> {
  let out = serialized.get(event);
  if (!out) {
    // The id tracked() carries: server/events/subscription.ts tracks every event by String(event.id).
    out = superjson.serialize({ id: String(event.id), data: event });
    serialized.set(event, out);
  }
  return out;
}

/** Each event's shared bytes: everything after the message head. */
const tails = new WeakMap<CofferEvent, Buffer>();

function tailOf(event: CofferEvent): Buffer {
  let tail = tails.get(event);
  if (!tail) {
    // The message tRPC builds for a tracked value, less its head: {"result":{"type":"data","data":…,"id":"<event id>"}}
    const id = String(event.id);
    const body = JSON.stringify({ result: { type: 'data', data: serializedOf(event), id } });
    tail = Buffer.from(`,${body.slice(1)}`);
    tails.set(event, tail);
  }
  return tail;
}

const SEND_AS_TEXT = { binary: false } as const;

/** The parts of a `ws` WebSocket the fast path reads: its TCP socket, and whether its sender holds anything back. */
interface WsInternals {
  _socket?: Socket;
  _sender?: { _state?: number };
  _extensions?: Record<string, unknown>;
}

/**
 * One unmasked, unfragmented text frame (RFC 6455 §5.2: FIN + opcode 1, then the payload length
 * in 7, 7+16 or 7+64 bits), exactly as ws's Sender frames a server's message: head + tail.
 */
export function textFrame(head: Buffer, tail: Buffer): Buffer {
  const length = head.length + tail.length;
  const offset = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(offset + length);
  frame[0] = 0x81;
  if (offset === 2) frame[1] = length;
  else if (offset === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  head.copy(frame, offset);
  tail.copy(frame, offset + head.length);
  return frame;
}

/** Events the fast path wrote straight to a socket, per process (tests check that it is taken). */
export const fanoutStats = { directSends: 0 };

class WsChannel implements DirectChannel {
  private head: Buffer | null = null;

  private readonly ws: WebSocket;

  constructor(ws: WebSocket) {
    this.ws = ws;
  }

  get ready(): boolean {
    return this.head !== null;
  }

  handshake(event: CofferEvent): unknown {
    return new Handshake(event, this);
  }

  learn(id: string | number, jsonrpc: string | undefined): void {
    this.head ??= Buffer.from(`{"id":${JSON.stringify(id)}${jsonrpc === undefined ? '' : `,"jsonrpc":${JSON.stringify(jsonrpc)}`}`);
  }

  send(event: CofferEvent): void {
    if (!this.head || this.ws.readyState !== WS_OPEN) return;
    // The fan-out's cost is this call times the subscribers, so it writes the finished frame to
    // the TCP socket itself (one allocation, one write) when ws would do exactly that: no
    // compression negotiated, and nothing queued in its sender (state 0: no compression or blob
    // read in progress) that this frame would overtake. Otherwise through ws.
    const internals = this.ws as unknown as WsInternals;
    const socket = internals._socket;
    if (socket && internals._sender?._state === 0 && !internals._extensions?.[PERMESSAGE_DEFLATE]) {
      socket.write(textFrame(this.head, tailOf(event)));
      fanoutStats.directSends++;
    } else {
      this.ws.send(Buffer.concat([this.head, tailOf(event)]), SEND_AS_TEXT);
    }
  }

  batch(fn: () => void): void {
    // ws corks the socket per frame; an outer cork makes a batch of frames one write.
    const socket = (this.ws as unknown as WsInternals)._socket;
    socket?.cork();
    try {
      fn();
    } finally {
      socket?.uncork();
    }
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
}

/** A subscription's fast path on `ws` (one per subscription: each has its own request id). */
export function wsChannel(ws: WebSocket): DirectChannel {
  return new WsChannel(ws);
}
