import { describe, expect, it, jest } from '@jest/globals';
import { createDeflate, deflateSync, constants as zc } from 'node:zlib';
import {
  SpdyRewriter,
  spdyHeaderDictionary,
  WebSocketChannelRewriter,
  WS_TEXT_KEY,
  type OutputMasker,
  type OutputStreamKind,
  type RewriterOptions,
} from '../../../src/proxy/stream-frames.js';
import { mulberry32 } from '../../helpers/random.js';

const SECRET = 'SECRET';
const MASK = '[masked]';

/** Replaces SECRET (even split across writes) by holding back a tail that could start it. */
class SecretMasker implements OutputMasker {
  private held = '';

  write(chunk: Buffer): Buffer {
    const text = (this.held + chunk.toString('latin1')).split(SECRET).join(MASK);
    let keep = 0;
    for (let n = Math.min(SECRET.length - 1, text.length); n > 0; n--) {
      if (SECRET.startsWith(text.slice(text.length - n))) {
        keep = n;
        break;
      }
    }
    this.held = text.slice(text.length - keep);
    return Buffer.from(text.slice(0, text.length - keep), 'latin1');
  }

  flushIdle(): Buffer {
    const out = Buffer.from(this.held, 'latin1');
    this.held = '';
    return out;
  }

  end(): Buffer {
    return this.flushIdle();
  }

  get holding(): boolean {
    return this.held.length > 0;
  }
}

/** What the reference masking of a whole stream gives. */
function masked(s: Buffer): Buffer {
  return Buffer.from(s.toString('latin1').split(SECRET).join(MASK), 'latin1');
}

interface Harness {
  opts: RewriterOptions;
  out: Buffer[];
  failures: string[];
  made: [OutputStreamKind, number][];
  recorded: [string, string][];
  bytes(): Buffer;
}

function harness(extra: Partial<RewriterOptions> = {}, masker: () => OutputMasker = () => new SecretMasker()): Harness {
  const h: Harness = {
    out: [],
    failures: [],
    made: [],
    recorded: [],
    bytes: () => Buffer.concat(h.out),
    opts: {
      maskerFor: (kind, key) => {
        h.made.push([kind, key]);
        return masker();
      },
      emit: (b) => h.out.push(Buffer.from(b)),
      fail: (r) => h.failures.push(r),
      onOutput: (stream, m) => h.recorded.push([stream, m.toString('latin1')]),
      idleMs: 60_000,
      ...extra,
    },
  };
  return h;
}

/** Decoder checks (plain throws: expect() per frame is slow in the generative tests). */
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`agent-side decoding: ${what}`);
}

function push<K>(m: Map<K, Buffer[]>, k: K, b: Buffer): void {
  const list = m.get(k);
  if (list) list.push(b);
  else m.set(k, [b]);
}

/** Output text with secrets and pieces of them, so secrets get split across frames. */
function randomText(rnd: () => number, n: number): string {
  const parts = ['a', 'b', ' ', '\n', 'S', 'SE', 'SEC', 'CRET', 'RET', SECRET, SECRET, 'x'];
  let s = '';
  while (s.length < n) s += parts[Math.floor(rnd() * parts.length)]!;
  return s.slice(0, n);
}

function splitRandomly(rnd: () => number, b: Buffer, maxPiece: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let off = 0; off < b.length; ) {
    const n = 1 + Math.floor(rnd() * maxPiece);
    pieces.push(b.subarray(off, off + n));
    off += n;
  }
  return pieces;
}

// ---------------------------------------------------------------------------------------------------
// WebSocket

function wsFrame(payload: Buffer | string, o: { opcode?: number; fin?: boolean; rsv?: number; mask?: boolean; form?: 7 | 16 | 64 } = {}): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const { opcode = 2, fin = true, rsv = 0, mask = false } = o;
  const form = o.form ?? (p.length < 126 ? 7 : p.length < 65536 ? 16 : 64);
  const m = mask ? 0x80 : 0;
  let head: Buffer;
  if (form === 7) head = Buffer.from([0, m | p.length]);
  else if (form === 16) {
    head = Buffer.alloc(4);
    head[1] = m | 126;
    head.writeUInt16BE(p.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[1] = m | 127;
    head.writeBigUInt64BE(BigInt(p.length), 2);
  }
  head[0] = (fin ? 0x80 : 0) | rsv | opcode;
  if (!mask) return Buffer.concat([head, p]);
  const key = Buffer.from([9, 8, 7, 6]);
  return Buffer.concat([head, key, Buffer.from(p.map((v, i) => v ^ key[i & 3]!))]);
}

const chan = (c: number, data: string, o: { fin?: boolean; opcode?: number } = {}) => wsFrame(Buffer.concat([Buffer.from([c]), Buffer.from(data, 'latin1')]), o);

interface WsFrame {
  opcode: number;
  fin: boolean;
  payload: Buffer;
  raw: Buffer;
}

/** The agent's view: strict RFC 6455 parsing (unmasked, shortest length form, whole frames only). */
function wsDecode(b: Buffer): WsFrame[] {
  const frames: WsFrame[] = [];
  let off = 0;
  while (off < b.length) {
    const start = off;
    check(b.length - off >= 2, 'truncated header');
    const fin = (b[off]! & 0x80) !== 0;
    check((b[off]! & 0x70) === 0, 'RSV bits');
    const opcode = b[off]! & 0x0f;
    check((b[off + 1]! & 0x80) === 0, 'masked');
    let len = b[off + 1]! & 0x7f;
    off += 2;
    if (len === 126) {
      len = b.readUInt16BE(off);
      check(len >= 126, 'non-minimal 16-bit length');
      off += 2;
    } else if (len === 127) {
      len = Number(b.readBigUInt64BE(off));
      check(len >= 65536, 'non-minimal 64-bit length');
      off += 8;
    }
    check(off + len <= b.length, 'truncated payload');
    frames.push({ opcode, fin, payload: b.subarray(off, off + len), raw: b.subarray(start, off + len) });
    off += len;
  }
  return frames;
}

/** Per-channel output (text under WS_TEXT_KEY), control frames in order, and the frame list. */
function wsCollect(b: Buffer): { channels: Map<number, Buffer>; controls: string[]; frames: WsFrame[] } {
  const frames = wsDecode(b);
  const parts = new Map<number, Buffer[]>();
  const controls: string[] = [];
  for (const f of frames) {
    if (f.opcode >= 8) controls.push(f.raw.toString('hex'));
    else {
      // Every data frame the rewriter writes is a whole message.
      check(f.fin && (f.opcode === 1 || f.opcode === 2), 'not a whole text or binary message');
      if (f.opcode === 1) {
        new TextDecoder('utf-8', { fatal: true }).decode(f.payload);
        push(parts, WS_TEXT_KEY, f.payload);
      } else if (f.payload.length) push(parts, f.payload[0]!, f.payload.subarray(1));
    }
  }
  return { channels: new Map([...parts].map(([k, v]) => [k, Buffer.concat(v)])), controls, frames };
}

function channelText(c: { channels: Map<number, Buffer> }): Record<number, string> {
  return Object.fromEntries([...c.channels].map(([k, v]) => [k, v.toString('latin1')]));
}

function runWs(pieces: Buffer[], extra: Partial<RewriterOptions> = {}): Harness {
  const h = harness(extra);
  const r = new WebSocketChannelRewriter(h.opts);
  for (const p of pieces) r.push(p);
  r.end();
  return h;
}

describe('WebSocketChannelRewriter', () => {
  const sample = Buffer.concat([
    chan(1, 'hello SEC'),
    wsFrame('ping!', { opcode: 9 }),
    chan(1, 'RET world'),
    chan(2, 'err SECRET\n'),
    chan(3, '{"status":"Success"}'),
    wsFrame('', { opcode: 10 }),
    chan(1, 'x'.repeat(300)),
  ]);
  const expected = { 1: `hello ${MASK} world${'x'.repeat(300)}`, 2: `err ${MASK}\n`, 3: '{"status":"Success"}' };

  it('gives the same output for any split of the input, many frames per chunk or one byte at a time', () => {
    const whole = wsCollect(runWs([sample]).bytes());
    expect(channelText(whole)).toEqual(expected);
    const bytewise = wsCollect(runWs([...sample].map((b) => Buffer.from([b]))).bytes());
    expect(channelText(bytewise)).toEqual(expected);
    expect(bytewise.controls).toEqual(whole.controls);
    for (let i = 1; i < sample.length; i++) {
      const c = wsCollect(runWs([sample.subarray(0, i), sample.subarray(i)]).bytes());
      expect(channelText(c)).toEqual(expected);
      expect(c.controls).toEqual(whole.controls);
    }
  });

  it('passes control frames byte for byte and in order with the data', () => {
    const ping = wsFrame('abc', { opcode: 9 });
    const pong = wsFrame('xyz', { opcode: 10 });
    const h = runWs([Buffer.concat([chan(1, 'one '), ping, chan(1, 'two '), pong, chan(1, 'three')])]);
    const frames = wsDecode(h.bytes());
    expect(frames.map((f) => (f.opcode >= 8 ? f.raw.toString('hex') : f.payload.toString('latin1')))).toEqual([
      '\x01one ',
      ping.toString('hex'),
      '\x01two ',
      pong.toString('hex'),
      '\x01three',
    ]);
  });

  it('masks a secret split across frames and keeps channels apart', () => {
    const h = runWs([Buffer.concat([chan(1, 'a SE'), chan(2, 'SE'), chan(1, 'CR'), chan(2, 'CRET'), chan(1, 'ET b')])]);
    expect(channelText(wsCollect(h.bytes()))).toEqual({ 1: `a ${MASK} b`, 2: MASK });
    expect(h.made).toEqual([['stdout', 1], ['stderr', 2]]);
  });

  it('flushes held bytes before the close frame and forwards nothing after it', () => {
    const close = wsFrame(Buffer.from([0x03, 0xe8]), { opcode: 8 });
    const h = harness();
    const r = new WebSocketChannelRewriter(h.opts);
    r.push(Buffer.concat([chan(1, 'bye SEC'), chan(2, 'S'), close, chan(1, 'late')]));
    const frames = wsDecode(h.bytes());
    expect(frames.map((f) => f.raw.toString('latin1'))).toEqual([
      chan(1, 'bye ').toString('latin1'),
      chan(1, 'SEC').toString('latin1'),
      chan(2, 'S').toString('latin1'),
      close.toString('latin1'),
    ]);
    r.end();
    expect(wsDecode(h.bytes())).toHaveLength(4);
  });

  it('flushes held bytes at end()', () => {
    const h = runWs([chan(1, 'tail SECR')]);
    expect(channelText(wsCollect(h.bytes()))).toEqual({ 1: 'tail SECR' });
  });

  it('flushes a holding masker after idleMs without input, and re-arms while it keeps holding', () => {
    jest.useFakeTimers();
    try {
      let idleCalls = 0;
      const h = harness({ idleMs: 100 }, () => {
        const m = new SecretMasker();
        const flush = m.flushIdle.bind(m);
        // The first idle flush keeps holding; the second lets the tail go.
        m.flushIdle = () => (++idleCalls === 1 ? Buffer.alloc(0) : flush());
        return m;
      });
      const r = new WebSocketChannelRewriter(h.opts);
      r.push(chan(1, 'abc SEC'));
      expect(channelText(wsCollect(h.bytes()))).toEqual({ 1: 'abc ' });
      jest.advanceTimersByTime(60);
      r.push(chan(1, 'R')); // input re-arms the timer
      jest.advanceTimersByTime(60);
      expect(idleCalls).toBe(0);
      jest.advanceTimersByTime(40);
      expect(idleCalls).toBe(1);
      expect(channelText(wsCollect(h.bytes()))).toEqual({ 1: 'abc ' });
      jest.advanceTimersByTime(100);
      expect(idleCalls).toBe(2);
      expect(channelText(wsCollect(h.bytes()))).toEqual({ 1: 'abc SECR' });
      jest.advanceTimersByTime(1000);
      expect(idleCalls).toBe(2);
      expect(jest.getTimerCount()).toBe(0);
      r.push(chan(1, 'S'));
      expect(jest.getTimerCount()).toBe(1);
      r.close();
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('rewrites fragmented messages: the channel byte of the first fragment goes on every piece', () => {
    const ping = wsFrame('p', { opcode: 9 });
    const input = Buffer.concat([
      wsFrame(Buffer.from([1, ...Buffer.from('frag SE')]), { fin: false }),
      ping,
      wsFrame('CRET and', { opcode: 0, fin: false }),
      wsFrame(' more', { opcode: 0 }),
      // An empty first fragment: the channel byte comes with the next one.
      wsFrame('', { fin: false }),
      wsFrame(Buffer.from([2, ...Buffer.from('late channel')]), { opcode: 0 }),
      // A fragmented message with no byte at all is still one (empty) message.
      wsFrame('', { fin: false }),
      wsFrame('', { opcode: 0 }),
    ]);
    const c = wsCollect(runWs([input]).bytes());
    expect(channelText(c)).toEqual({ 1: `frag ${MASK} and more`, 2: 'late channel' });
    expect(c.controls).toEqual([ping.toString('hex')]);
    expect(c.frames.filter((f) => f.opcode === 2 && f.payload.length === 0)).toHaveLength(1);
  });

  it('reads 16- and 64-bit lengths (even non-minimal ones) and writes the right form', () => {
    const big = 'y'.repeat(70_000);
    const input = Buffer.concat([
      wsFrame(Buffer.concat([Buffer.from([1]), Buffer.from('a'.repeat(200))])),
      wsFrame(Buffer.concat([Buffer.from([1]), Buffer.from(big)])),
      wsFrame(Buffer.from([2, 0x41]), { form: 64 }),
      wsFrame(Buffer.from([2, 0x42]), { form: 16 }),
    ]);
    const c = wsCollect(runWs(splitRandomly(mulberry32(7), input, 5000)).bytes());
    expect(channelText(c)).toEqual({ 1: 'a'.repeat(200) + big, 2: 'AB' });
    const one = wsCollect(runWs([input]).bytes());
    expect(one.frames.map((f) => f.raw[1]! & 0x7f)).toEqual([126, 127, 2, 2]);
  });

  it('streams a large frame through the masker as it arrives', () => {
    const size = 3 * 1024 * 1024;
    const input = wsFrame(Buffer.concat([Buffer.from([1]), Buffer.alloc(size, 0x61)]));
    const h = harness();
    const r = new WebSocketChannelRewriter(h.opts);
    r.push(input.subarray(0, 64 * 1024));
    expect(h.out.length).toBe(1);
    for (let off = 64 * 1024; off < input.length; off += 64 * 1024) r.push(input.subarray(off, off + 64 * 1024));
    expect(wsCollect(h.bytes()).channels.get(1)!.length).toBe(size);
    expect(Math.max(...h.out.map((b) => b.length))).toBeLessThan(70 * 1024);
  });

  it('masks text frames as channel-less text and keeps every text frame valid UTF-8', () => {
    const text = Buffer.from(`héllo € ${SECRET} 😀 done`, 'utf8');
    const input = Buffer.concat([...text].map((b) => wsFrame(Buffer.from([b]), { opcode: 1 })));
    const h = runWs([input]);
    const c = wsCollect(h.bytes());
    expect(c.channels.get(WS_TEXT_KEY)!.toString('utf8')).toBe(`héllo € ${MASK} 😀 done`);
    expect(h.made).toEqual([['unknown', WS_TEXT_KEY]]);
    expect(h.recorded).toEqual([]);
  });

  it('passes an empty binary message through', () => {
    const h = runWs([Buffer.concat([wsFrame(''), chan(1, 'x')])]);
    expect(h.bytes().subarray(0, 2)).toEqual(Buffer.from([0x82, 0x00]));
  });

  it('records masked stdout and stderr only, and masks unknown channels too', () => {
    const h = runWs([Buffer.concat([chan(1, 'out SECRET'), chan(2, 'err'), chan(3, 'SECRET status'), chan(9, 'odd SECRET')])]);
    expect(h.recorded).toEqual([
      ['stdout', `out ${MASK}`],
      ['stderr', 'err'],
    ]);
    expect(h.made).toEqual([['stdout', 1], ['stderr', 2], ['error', 3], ['unknown', 9]]);
    expect(channelText(wsCollect(h.bytes()))[9]).toBe(`odd ${MASK}`);
  });

  it.each([
    ['RSV1 (compression)', wsFrame(Buffer.from([1, 0x41]), { rsv: 0x40 })],
    ['RSV3', wsFrame('x', { opcode: 9, rsv: 0x10 })],
    ['a masked frame', wsFrame(Buffer.from([1, 0x41]), { mask: true })],
    ['an unknown data opcode', wsFrame('x', { opcode: 3 })],
    ['an unknown control opcode', wsFrame('x', { opcode: 0xb })],
    ['a fragmented control frame', wsFrame('x', { opcode: 9, fin: false })],
    ['a 64-bit length with the high bit', Buffer.from([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1])],
    ['a continuation without a message', wsFrame('x', { opcode: 0 })],
    ['a new message inside a fragmented one', Buffer.concat([wsFrame(Buffer.from([1]), { fin: false }), chan(1, 'x')])],
  ])('fails closed on %s', (_name, bad) => {
    const h = harness();
    const r = new WebSocketChannelRewriter(h.opts);
    r.push(Buffer.concat([chan(1, 'before SE'), bad, chan(1, 'after')]));
    expect(h.failures).toHaveLength(1);
    // Nothing of the failing call went out; later input is ignored.
    expect(h.out).toEqual([]);
    r.push(chan(1, 'more'));
    r.end();
    expect(h.out).toEqual([]);
  });

  it('fails closed when the masker throws', () => {
    const h = harness({}, () => ({ write: () => { throw new Error('boom'); }, flushIdle: () => Buffer.alloc(0), end: () => Buffer.alloc(0), holding: false }));
    new WebSocketChannelRewriter(h.opts).push(chan(1, 'x'));
    expect(h.failures).toEqual(['exec output rewriting failed: boom']);
  });

  it('close() drops what is held and emits nothing more', () => {
    const h = harness();
    const r = new WebSocketChannelRewriter(h.opts);
    r.push(chan(1, 'SEC'));
    r.close();
    r.push(chan(1, 'RET'));
    r.end();
    expect(h.out).toEqual([]);
  });

  it('generative: random frame sequences, random splits', () => {
    for (let seed = 1; seed <= 150; seed++) {
      const rnd = mulberry32(seed);
      const frames: Buffer[] = [];
      const want = new Map<number, Buffer[]>();
      const controls: string[] = [];
      const add = (k: number, b: Buffer) => push(want, k, b);
      const text = Buffer.from(randomText(rnd, 40) + ' ünïcødé € 😀 ' + randomText(rnd, 40), 'utf8');
      let textOff = 0;
      const count = 5 + Math.floor(rnd() * 30);
      for (let i = 0; i < count; i++) {
        const r = rnd();
        if (r < 0.1) {
          const f = wsFrame(randomText(rnd, Math.floor(rnd() * 20)), { opcode: rnd() < 0.5 ? 9 : 10 });
          frames.push(f);
          controls.push(f.toString('hex'));
        } else if (r < 0.2 && textOff < text.length) {
          // Text split anywhere, even inside a UTF-8 sequence.
          const n = 1 + Math.floor(rnd() * 10);
          frames.push(wsFrame(text.subarray(textOff, textOff + n), { opcode: 1 }));
          add(WS_TEXT_KEY, text.subarray(textOff, textOff + n));
          textOff += n;
        } else if (r < 0.35) {
          // A fragmented message, possibly with control frames between its fragments.
          const c = [1, 2, 3, 7][Math.floor(rnd() * 4)]!;
          const n = 2 + Math.floor(rnd() * 3);
          for (let j = 0; j < n; j++) {
            const data = Buffer.from(randomText(rnd, Math.floor(rnd() * 30)), 'latin1');
            const payload = j === 0 ? Buffer.concat([Buffer.from([c]), data]) : data;
            frames.push(wsFrame(payload, { opcode: j === 0 ? 2 : 0, fin: j === n - 1 }));
            add(c, data);
            if (rnd() < 0.3) {
              const p = wsFrame('', { opcode: 9 });
              frames.push(p);
              controls.push(p.toString('hex'));
            }
          }
        } else {
          const c = [1, 2, 3, 7][Math.floor(rnd() * 4)]!;
          const len = rnd() < 0.05 ? 200 + Math.floor(rnd() * 70_000) : Math.floor(rnd() * 40);
          const data = Buffer.from(randomText(rnd, len), 'latin1');
          frames.push(chan(c, data.toString('latin1')));
          add(c, data);
        }
      }
      const input = Buffer.concat(frames);
      const h = runWs(splitRandomly(rnd, input, 1 + Math.floor(rnd() * 300)));
      expect(h.failures).toEqual([]);
      const got = wsCollect(h.bytes());
      expect(got.controls).toEqual(controls);
      const expected = Object.fromEntries([...want].map(([k, v]) => [k, masked(Buffer.concat(v)).toString('latin1')] as const).filter(([, v]) => v.length));
      expect(channelText(got)).toEqual(expected);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// SPDY/3.1

function spdyData(id: number, data: Buffer | string, fin = false): Buffer {
  const d = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id & 0x7fffffff, 0);
  h.writeUInt32BE(((fin ? 1 : 0) << 24) | d.length, 4);
  return Buffer.concat([h, d]);
}

function spdyControl(type: number, payload: Buffer, flags = 0, version = 3): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | version, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE((flags << 24) | payload.length, 4);
  return Buffer.concat([h, payload]);
}

function u32s(...v: number[]): Buffer {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32BE(x >>> 0, 4 * i));
  return b;
}

const ping = (id: number) => spdyControl(6, u32s(id));
const rst = (id: number) => spdyControl(3, u32s(id, 5));
const windowUpdate = (id: number, delta: number) => spdyControl(9, u32s(id, delta));
const settings = () => spdyControl(4, u32s(1, 7, 65536));
const goaway = () => spdyControl(7, u32s(0, 0));

/** A SPDY/3 name/value block as spdystream writes it (lower-case names, 32-bit lengths). */
function headerBlock(headers: Record<string, string>): Buffer {
  const parts = [u32s(Object.keys(headers).length)];
  for (const [k, v] of Object.entries(headers)) parts.push(u32s(k.length), Buffer.from(k), u32s(v.length), Buffer.from(v));
  return Buffer.concat(parts);
}

/** One direction's header compressor: one zlib stream with the SPDY dictionary, a sync flush per block. */
function headerCompressor(): (block: Buffer) => Promise<Buffer> {
  const z = createDeflate({ dictionary: spdyHeaderDictionary(), level: 9 });
  const got: Buffer[] = [];
  z.on('data', (c: Buffer) => got.push(c));
  return async (block) => {
    z.write(block);
    await new Promise<void>((resolve) => z.flush(zc.Z_SYNC_FLUSH, () => resolve()));
    return Buffer.concat(got.splice(0));
  };
}

function synStream(id: number, compressed: Buffer, flags = 0): Buffer {
  return spdyControl(1, Buffer.concat([u32s(id, 0), Buffer.from([0, 0]), compressed]), flags);
}

interface SpdyFrame {
  control: boolean;
  id: number;
  fin: boolean;
  data: Buffer;
  raw: Buffer;
}

function spdyDecode(b: Buffer): SpdyFrame[] {
  const frames: SpdyFrame[] = [];
  let off = 0;
  while (off < b.length) {
    check(b.length - off >= 8, 'truncated header');
    const control = (b[off]! & 0x80) !== 0;
    const len = b.readUIntBE(off + 5, 3);
    check(off + 8 + len <= b.length, 'truncated frame');
    frames.push({
      control,
      id: control ? 0 : b.readUInt32BE(off) & 0x7fffffff,
      fin: (b[off + 4]! & 1) !== 0,
      data: b.subarray(off + 8, off + 8 + len),
      raw: b.subarray(off, off + 8 + len),
    });
    off += 8 + len;
  }
  return frames;
}

function spdyCollect(b: Buffer): { streams: Map<number, Buffer>; fins: number[]; controls: string[]; frames: SpdyFrame[] } {
  const frames = spdyDecode(b);
  const parts = new Map<number, Buffer[]>();
  const fins: number[] = [];
  const controls: string[] = [];
  for (const f of frames) {
    if (f.control) {
      controls.push(f.raw.toString('hex'));
      continue;
    }
    check(!fins.includes(f.id), `data after the FIN of stream ${f.id}`);
    push(parts, f.id, f.data);
    if (f.fin) fins.push(f.id);
  }
  return { streams: new Map([...parts].map(([k, v]) => [k, Buffer.concat(v)])), fins, controls, frames };
}

function streamText(c: { streams: Map<number, Buffer> }): Record<number, string> {
  return Object.fromEntries([...c.streams].filter(([, v]) => v.length).map(([k, v]) => [k, v.toString('latin1')]));
}

function runSpdy(pieces: Buffer[], client: Buffer[] = [], extra: Partial<RewriterOptions> = {}): Harness {
  const h = harness(extra);
  const r = new SpdyRewriter(h.opts);
  for (const c of client) r.observeClient(c);
  for (const p of pieces) r.push(p);
  r.end();
  return h;
}

describe('SpdyRewriter', () => {
  it('uses the SPDY/3 dictionary of spdystream (length and Adler-32 of spdy/dictionary.go)', () => {
    const d = spdyHeaderDictionary();
    let a = 1;
    let b = 0;
    for (const x of d) {
      a = (a + x) % 65521;
      b = (b + a) % 65521;
    }
    expect(d.length).toBe(1423);
    expect(((b << 16) | a) >>> 0).toBe(0xe3c6a7c2);
    // And it is the one a zlib stream with that DICTID needs.
    expect(deflateSync(Buffer.from('x'), { dictionary: d }).subarray(2, 6).toString('hex')).toBe('e3c6a7c2');
  });

  const sample = Buffer.concat([
    spdyControl(2, Buffer.concat([u32s(1), Buffer.from('compressed-headers')])),
    spdyData(1, 'hello SEC'),
    ping(1),
    spdyData(1, 'RET world'),
    spdyData(3, 'err SECRET\n'),
    windowUpdate(1, 1000),
    spdyData(5, '', false),
    spdyData(1, 'x'.repeat(300), true),
    spdyData(3, '', true),
  ]);
  const expected = { 1: `hello ${MASK} world${'x'.repeat(300)}`, 3: `err ${MASK}\n` };

  it('gives the same output for any split of the input', () => {
    const whole = spdyCollect(runSpdy([sample]).bytes());
    expect(streamText(whole)).toEqual(expected);
    expect(whole.fins).toEqual([1, 3]);
    const bytewise = spdyCollect(runSpdy([...sample].map((b) => Buffer.from([b]))).bytes());
    expect(streamText(bytewise)).toEqual(expected);
    expect(bytewise.controls).toEqual(whole.controls);
    for (let i = 1; i < sample.length; i++) {
      const c = spdyCollect(runSpdy([sample.subarray(0, i), sample.subarray(i)]).bytes());
      expect(streamText(c)).toEqual(expected);
      expect(c.fins).toEqual([1, 3]);
      expect(c.controls).toEqual(whole.controls);
    }
  });

  it('passes control frames byte for byte and in order with the data', () => {
    const frames = [spdyData(1, 'one '), settings(), spdyData(1, 'two '), ping(2), windowUpdate(0, 5), spdyData(1, 'three')];
    const got = spdyDecode(runSpdy([Buffer.concat(frames)]).bytes());
    expect(got.map((f) => (f.control ? f.raw.toString('hex') : f.data.toString('latin1')))).toEqual([
      'one ',
      settings().toString('hex'),
      'two ',
      ping(2).toString('hex'),
      windowUpdate(0, 5).toString('hex'),
      'three',
    ]);
  });

  it('masks a secret split across frames, per stream, with the length rewritten', () => {
    const h = runSpdy([Buffer.concat([spdyData(1, 'a SE'), spdyData(3, 'SE'), spdyData(1, 'CR'), spdyData(3, 'CRET'), spdyData(1, 'ET b')])]);
    const c = spdyCollect(h.bytes());
    expect(streamText(c)).toEqual({ 1: `a ${MASK} b`, 3: MASK });
    expect(c.frames.every((f) => f.raw.length === 8 + f.data.length)).toBe(true);
  });

  it('puts what the masker holds before the FIN', () => {
    const h = runSpdy([Buffer.concat([spdyData(1, 'out SECR'), spdyData(1, 'E', true), spdyData(3, 'S'), spdyData(3, '', true)])]);
    const c = spdyCollect(h.bytes());
    expect(streamText(c)).toEqual({ 1: 'out SECRE', 3: 'S' });
    expect(c.fins).toEqual([1, 3]);
    const last = c.frames.filter((f) => f.id === 1).at(-1)!;
    expect(last.fin).toBe(true);
  });

  it('flushes held bytes before HEADERS with FIN and before GOAWAY', () => {
    const headersFin = spdyControl(8, Buffer.concat([u32s(1), Buffer.from('hb')]), 1);
    const h = runSpdy([Buffer.concat([spdyData(1, 'one S'), headersFin, spdyData(3, 'two SE'), goaway()])]);
    const got = spdyDecode(h.bytes()).map((f) => (f.control ? `ctl:${f.raw.readUInt16BE(2)}` : `${f.id}:${f.data.toString('latin1')}`));
    expect(got).toEqual(['1:one ', '1:S', 'ctl:8', '3:two ', '3:SE', 'ctl:7']);
  });

  it('sends what a reset stream holds before the reset (the kubelet resets its streams when done)', () => {
    const h = runSpdy([Buffer.concat([spdyData(1, 'keep SEC'), spdyData(3, 'x SECR'), rst(1), spdyData(3, 'ET')])]);
    const c = spdyCollect(h.bytes());
    expect(streamText(c)).toEqual({ 1: 'keep SEC', 3: `x ${MASK}` });
    expect(c.controls).toEqual([rst(1).toString('hex')]);
  });

  it('flushes a holding stream after idleMs', async () => {
    const h = harness({ idleMs: 5 });
    const r = new SpdyRewriter(h.opts);
    r.push(spdyData(1, 'prompt$ SE'));
    expect(streamText(spdyCollect(h.bytes()))).toEqual({ 1: 'prompt$ ' });
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(streamText(spdyCollect(h.bytes()))).toEqual({ 1: 'prompt$ SE' });
    r.close();
  });

  it('learns stream kinds from the client SYN_STREAM header blocks (one zlib stream per direction)', async () => {
    const compress = headerCompressor();
    const client: Buffer[] = [];
    const types = { 1: 'error', 3: 'stdin', 5: 'stdout', 7: 'stderr', 9: 'resize' };
    for (const [id, t] of Object.entries(types)) {
      // Large, repetitive blocks so later blocks refer back into earlier ones (and past 32 KiB).
      const block = headerBlock({ streamtype: t, 'x-filler': `requestid-${id} `.repeat(Number(id) * 700) });
      client.push(synStream(Number(id), await compress(block)));
      client.push(spdyData(3, 'stdin bytes SECRET'));
    }
    client.push(spdyControl(2, Buffer.concat([u32s(2), await compress(headerBlock({ status: '200' }))])));
    client.push(synStream(11, await compress(headerBlock({ streamtype: 'stdout', port: '80' }))));
    const server = Buffer.concat([spdyData(5, 'out SECRET'), spdyData(7, 'err'), spdyData(1, '{"status":"SECRET"}'), spdyData(11, 'o'), spdyData(13, 'who?')]);
    const pieces = splitRandomly(mulberry32(3), Buffer.concat(client), 17);
    const h = runSpdy([server], pieces);
    expect(h.made).toEqual([['stdout', 5], ['stderr', 7], ['error', 1], ['stdout', 11], ['unknown', 13]]);
    expect(h.recorded).toEqual([
      ['stdout', `out ${MASK}`],
      ['stderr', 'err'],
      ['stdout', 'o'],
    ]);
    expect(streamText(spdyCollect(h.bytes()))[1]).toBe(`{"status":"${MASK}"}`);
  });

  it('sends what stdout holds before the exit status on the error stream (kubectl stops reading there)', async () => {
    const compress = headerCompressor();
    const client = [synStream(1, await compress(headerBlock({ streamtype: 'error' }))), synStream(3, await compress(headerBlock({ streamtype: 'stdout' })))];
    // "no newline SEC" is held (the test masker holds what could begin SECRET) when the status arrives.
    const h = runSpdy([Buffer.concat([spdyData(3, 'no newline SEC'), spdyData(1, '{"status":"Success"}')])], client);
    const frames = spdyCollect(h.bytes()).frames.filter((f) => !f.control && f.data.length);
    expect(frames.map((f) => [f.id, f.data.toString('latin1')])).toEqual([[3, 'no newline '], [3, 'SEC'], [1, '{"status":"Success"}']]);
  });

  it('the client observer never throws; after garbage, kinds stay unknown', () => {
    const h = harness();
    const r = new SpdyRewriter(h.opts);
    const rnd = mulberry32(11);
    for (let i = 0; i < 200; i++) r.observeClient(Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256))));
    r.observeClient(synStream(1, Buffer.from('not zlib')));
    r.push(spdyData(1, 'data'));
    r.end();
    expect(h.made).toEqual([['unknown', 1]]);
  });

  it('streams a large frame through the masker and splits output longer than a data frame can hold', () => {
    const doubling = (): OutputMasker => ({ write: (c) => Buffer.concat([c, c]), flushIdle: () => Buffer.alloc(0), end: () => Buffer.alloc(0), holding: false });
    const size = 9 * 1024 * 1024;
    const frame = spdyData(1, Buffer.alloc(size, 0x62), true);
    // Pushed in pieces: masked pieces go out as they arrive, no FIN before the original's.
    const h1 = harness({}, doubling);
    const r1 = new SpdyRewriter(h1.opts);
    r1.push(frame.subarray(0, 100_000));
    expect(h1.out).toHaveLength(1);
    for (let off = 100_000; off < frame.length; off += 1024 * 1024) r1.push(frame.subarray(off, off + 1024 * 1024));
    const c1 = spdyCollect(h1.bytes());
    expect(c1.streams.get(1)!.length).toBe(2 * size);
    expect(c1.frames.filter((f) => f.fin)).toHaveLength(1);
    expect(c1.frames.at(-1)!.fin).toBe(true);
    // Pushed whole: 18 MiB of output must be cut into data frames of at most 2^24-1 bytes.
    const h2 = harness({}, doubling);
    new SpdyRewriter(h2.opts).push(frame);
    const c2 = spdyCollect(h2.bytes());
    expect(c2.frames.map((f) => f.data.length)).toEqual([0xffffff, 2 * size - 0xffffff, 0]);
    expect(c2.frames.map((f) => f.fin)).toEqual([false, false, true]);
  });

  it.each([
    ['a bad version', spdyControl(6, u32s(1), 0, 2)],
    ['an unknown control type', spdyControl(10, u32s(1))],
    ['a data frame for stream 0', spdyData(0, 'x')],
    ['unknown data flags', Buffer.from([0, 0, 0, 1, 0x02, 0, 0, 1, 0x41])],
    ['an oversized control frame', Buffer.from([0x80, 3, 0, 8, 0, 0xff, 0xff, 0xff])],
    ['a RST_STREAM without a stream id', spdyControl(3, Buffer.alloc(0))],
  ])('fails closed on %s', (_name, bad) => {
    const h = harness();
    const r = new SpdyRewriter(h.opts);
    r.push(Buffer.concat([spdyData(1, 'before SE'), bad, spdyData(1, 'after')]));
    expect(h.failures).toHaveLength(1);
    expect(h.out).toEqual([]);
    r.end();
    expect(h.out).toEqual([]);
  });

  it('generative: random frame sequences, random splits', () => {
    for (let seed = 1; seed <= 150; seed++) {
      const rnd = mulberry32(1000 + seed);
      const frames: Buffer[] = [];
      const want = new Map<number, Buffer[]>();
      const controls: string[] = [];
      const finished = new Set<number>();
      const streams = [1, 3, 5, 7, 2];
      const count = 5 + Math.floor(rnd() * 40);
      for (let i = 0; i < count; i++) {
        const open = streams.filter((s) => !finished.has(s));
        const r = rnd();
        if (r < 0.15 || !open.length) {
          const f = [ping(1 + Math.floor(rnd() * 100)), windowUpdate(1, 4096), settings()][Math.floor(rnd() * 3)]!;
          frames.push(f);
          controls.push(f.toString('hex'));
          continue;
        }
        const id = open[Math.floor(rnd() * open.length)]!;
        const len = rnd() < 0.05 ? 1000 + Math.floor(rnd() * 100_000) : Math.floor(rnd() * 50);
        const data = Buffer.from(randomText(rnd, len), 'latin1');
        const fin = rnd() < 0.1;
        frames.push(spdyData(id, data, fin));
        push(want, id, data);
        if (fin) finished.add(id);
      }
      const h = runSpdy(splitRandomly(rnd, Buffer.concat(frames), 1 + Math.floor(rnd() * 300)));
      expect(h.failures).toEqual([]);
      const got = spdyCollect(h.bytes());
      expect(got.controls).toEqual(controls);
      expect(new Set(got.fins)).toEqual(finished);
      const expected = Object.fromEntries([...want].map(([k, v]) => [k, masked(Buffer.concat(v)).toString('latin1')] as const).filter(([, v]) => v.length));
      expect(streamText(got)).toEqual(expected);
    }
  });
});
