import { describe, expect, it } from '@jest/globals';
import { MAX_OBSERVED_FRAME, tapChannelStream, WebSocketFrameReader } from '../../../src/proxy/ws-tap.js';
import type { AsciicastWriter } from '../../../src/recording/types.js';

function frame(payload: Buffer, opts: { opcode?: number; fin?: boolean; mask?: boolean } = {}): Buffer {
  const { opcode = 2, fin = true, mask = false } = opts;
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  const len = payload.length;
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(len));
    head.push(...b);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((v, i) => v ^ key[i & 3]!));
  return Buffer.concat([Buffer.from(head), key, masked]);
}

function reader() {
  const got: [number, string][] = [];
  return { r: new WebSocketFrameReader((op, p) => got.push([op, p.toString()])), got };
}

describe('WebSocketFrameReader', () => {
  it('reads masked and unmasked frames split at any byte', () => {
    const { r, got } = reader();
    const bytes = Buffer.concat([frame(Buffer.from('hello'), { mask: true }), frame(Buffer.from('x'.repeat(300))), frame(Buffer.from('bye'), { opcode: 1 })]);
    for (let i = 0; i < bytes.length; i += 7) r.push(bytes.subarray(i, i + 7));
    expect(got).toEqual([[2, 'hello'], [2, 'x'.repeat(300)], [1, 'bye']]);
  });
  it('joins fragments and ignores control frames in between', () => {
    const { r, got } = reader();
    r.push(Buffer.concat([frame(Buffer.from('ab'), { fin: false }), frame(Buffer.alloc(0), { opcode: 9 }), frame(Buffer.from('cd'), { opcode: 0 })]));
    expect(got).toEqual([[2, 'abcd']]);
  });
  it('skips frames larger than the observation limit and keeps reading after them', () => {
    const { r, got } = reader();
    const big = frame(Buffer.alloc(MAX_OBSERVED_FRAME + 10, 0x61));
    const bytes = Buffer.concat([big, frame(Buffer.from('after'))]);
    for (let i = 0; i < bytes.length; i += 65536) r.push(bytes.subarray(i, i + 65536));
    expect(got).toEqual([[2, 'after']]);
  });
  it('stops observing a direction with an extension it cannot read', () => {
    const { r, got } = reader();
    const compressed = frame(Buffer.from('zz'));
    compressed[0] = compressed[0]! | 0x40;
    r.push(Buffer.concat([compressed, frame(Buffer.from('later'))]));
    expect(got).toEqual([]);
  });
});

describe('tapChannelStream', () => {
  it('records stdout/stderr as output, stdin as input and resize messages', () => {
    const events: string[] = [];
    const writer: AsciicastWriter = {
      file: '/dev/null',
      output: (d) => events.push(`o:${d.toString()}`),
      input: (d) => events.push(`i:${d.toString()}`),
      resize: (c, r) => events.push(`r:${c}x${r}`),
      close: async () => undefined,
    };
    const { fromClient, fromServer } = tapChannelStream(writer);
    fromClient.push(frame(Buffer.from('\x00ls\n'), { mask: true }));
    fromClient.push(frame(Buffer.concat([Buffer.from([4]), Buffer.from('{"Width":120,"Height":40}')]), { mask: true }));
    fromServer.push(frame(Buffer.from('\x01file.txt\n')));
    fromServer.push(frame(Buffer.from('\x02warn\n')));
    fromServer.push(frame(Buffer.from('\x03{"status":"Success"}')));
    expect(events).toEqual(['i:ls\n', 'r:120x40', 'o:file.txt\n', 'o:warn\n']);
  });
});

describe('tapChannelStream: what it cannot observe', () => {
  it('says in the recording that a stdin frame too large to observe was not recorded', () => {
    const events: string[] = [];
    const writer: AsciicastWriter = {
      file: '/dev/null',
      output: (d) => events.push(`o:${d.toString()}`),
      input: (d) => events.push(`i:${d.toString()}`),
      resize: () => undefined,
      close: async () => undefined,
    };
    const { fromClient } = tapChannelStream(writer);
    const big = frame(Buffer.concat([Buffer.from([0]), Buffer.alloc(MAX_OBSERVED_FRAME + 10, 0x61)]), { mask: true });
    for (let i = 0; i < big.length; i += 65536) fromClient.push(big.subarray(i, i + 65536));
    fromClient.push(frame(Buffer.from('\x00after\n'), { mask: true }));
    expect(events).toEqual([`i:\r\n[airlock: ${MAX_OBSERVED_FRAME + 10} bytes of input in one frame, not recorded]\r\n`, 'i:after\n']);
  });
});
