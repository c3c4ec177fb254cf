// Observes (never changes) the WebSocket frames of an exec/attach stream so the session can be recorded
// as asciicast. Kubernetes' channel protocols (v4/v5.channel.k8s.io) send binary frames whose first
// byte is the channel: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize (JSON {Width, Height}), 255 close.
import type { AsciicastWriter } from '../recording/types.js';

/** Frames above this size are passed through but not recorded (bounded memory per stream). */
export const MAX_OBSERVED_FRAME = 1024 * 1024;

type Handler = (opcode: number, payload: Buffer) => void;

/** Incremental RFC 6455 frame reader: push() the bytes one direction carries, in order. */
export class WebSocketFrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private skip = 0;
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  private broken = false;
  private readonly onMessage: Handler;
  /** A frame too large to observe went by: its opcode, first payload byte (the channel) and length. */
  private readonly onSkipped: ((opcode: number, first: number | undefined, length: number) => void) | undefined;

  constructor(onMessage: Handler, onSkipped?: (opcode: number, first: number | undefined, length: number) => void) {
    this.onMessage = onMessage;
    this.onSkipped = onSkipped;
  }

  push(chunk: Buffer): void {
    if (this.broken) return;
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.parseOne()) { /* keep going */ }
  }

  /** Parses one frame from the buffer; false when more bytes are needed. */
  private parseOne(): boolean {
    const b = this.buf;
    if (b.length < 2) return false;
    const fin = (b[0]! & 0x80) !== 0;
    const rsv = b[0]! & 0x70;
    const opcode = b[0]! & 0x0f;
    const masked = (b[1]! & 0x80) !== 0;
    let len = b[1]! & 0x7f;
    let off = 2;
    if (len === 126) {
      if (b.length < 4) return false;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return false;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        this.broken = true;
        return false;
      }
      len = Number(big);
      off = 10;
    }
    const maskKey = masked ? b.subarray(off, off + 4) : undefined;
    if (masked) off += 4;
    if (b.length < off) return false;
    if (rsv !== 0) {
      // A negotiated extension (compression) we cannot read: stop observing this direction.
      this.broken = true;
      return false;
    }
    if (len > MAX_OBSERVED_FRAME) {
      const available = b.length - off;
      const first = available > 0 ? b[off]! ^ (maskKey ? maskKey[0]! : 0) : undefined;
      this.onSkipped?.(opcode, first, len);
      this.skip = len - Math.min(len, available);
      this.buf = b.subarray(Math.min(b.length, off + len));
      this.fragments = [];
      return this.skip === 0;
    }
    if (b.length < off + len) return false;
    let payload = Buffer.from(b.subarray(off, off + len));
    this.buf = b.subarray(off + len);
    if (maskKey) for (let i = 0; i < payload.length; i++) payload[i]! ^= maskKey[i & 3]!;
    if (opcode >= 0x8) return true; // control frames (close, ping, pong): nothing to record
    if (opcode !== 0) this.fragmentOpcode = opcode;
    if (!fin) {
      this.fragments.push(payload);
      return true;
    }
    if (this.fragments.length) {
      payload = Buffer.concat([...this.fragments, payload]);
      this.fragments = [];
    }
    this.onMessage(this.fragmentOpcode, payload);
    return true;
  }
}

/** Whether a negotiated subprotocol is a binary Kubernetes channel protocol we can record. */
export function recordableChannelProtocol(protocol: string | undefined): boolean {
  return protocol === 'v5.channel.k8s.io' || protocol === 'v4.channel.k8s.io' || protocol === 'channel.k8s.io';
}

/** Wires readers for both directions of an exec/attach stream to an asciicast writer. */
export function tapChannelStream(writer: AsciicastWriter): { fromClient: WebSocketFrameReader; fromServer: WebSocketFrameReader } {
  // What is not recorded is said in the recording: a session must not look complete when it is not.
  const skipped = (opcode: number, first: number | undefined, length: number) => {
    if (opcode === 2 && first === 0) writer.input(Buffer.from(`\r\n[airlock: ${length - 1} bytes of input in one frame, not recorded]\r\n`));
  };
  const fromClient = new WebSocketFrameReader((opcode, p) => {
    if (opcode !== 2 || p.length === 0) return;
    const channel = p[0];
    const data = p.subarray(1);
    if (channel === 0 && data.length) writer.input(data);
    else if (channel === 4) {
      try {
        const size = JSON.parse(data.toString('utf8')) as { Width?: number; Height?: number };
        if (Number.isInteger(size.Width) && Number.isInteger(size.Height)) writer.resize(size.Width!, size.Height!);
      } catch { /* not a resize message */ }
    }
  }, skipped);
  const fromServer = new WebSocketFrameReader((opcode, p) => {
    if (opcode !== 2 || p.length === 0) return;
    const channel = p[0];
    if ((channel === 1 || channel === 2) && p.length > 1) writer.output(p.subarray(1));
  });
  return { fromClient, fromServer };
}
