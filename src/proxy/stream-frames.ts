// Rewrites what kube-apiserver sends an agent on an exec/attach stream, frame by frame, so every output
// byte goes through a masker before the agent sees it. Two framings: WebSocket with Kubernetes' channel
// subprotocols (v5/v4.channel.k8s.io, channel.k8s.io) and SPDY/3.1 (kubectl's remotecommand, Go's
// moby/spdystream). Fail closed: bytes we cannot parse are never forwarded; the caller cuts both sockets.
//
// The output is always cut at frame boundaries between calls (a control frame is forwarded once whole,
// masked data goes out as complete frames of its own), so idle-flush timers can add frames at any time.
import { constants as zlibConstants, inflateRawSync, inflateSync } from 'node:zlib';

/** Masks one output stream (stdout, stderr, or the error channel) of an exec/attach session. Synchronous. */
export interface OutputMasker {
  /** Masked bytes that may go out now for this input; it may hold back a tail (e.g. a possible secret prefix). */
  write(chunk: Buffer): Buffer;
  /** Called when no input came for `idleMs` while `holding`: what of the held tail may go out now (may be empty, may keep holding). */
  flushIdle(): Buffer;
  /** End of the stream: everything still held, masked. */
  end(): Buffer;
  /** Whether bytes are held back. */
  readonly holding: boolean;
}

export type OutputStreamKind = 'stdout' | 'stderr' | 'error' | 'unknown';

export interface RewriterOptions {
  /** A masker for an output stream, made on first data of that stream. */
  maskerFor(stream: OutputStreamKind, key: number): OutputMasker;
  /** Writes bytes to the agent (in order; the only way bytes reach the agent). */
  emit(bytes: Buffer): void;
  /** Fatal protocol problem: the caller destroys both sockets (fail closed: nothing unparsed reaches the agent). */
  fail(reason: string): void;
  /** Idle time before flushIdle() is called on a holding masker (default 100 ms). Timers are unref'd and cleared on end/close. */
  idleMs?: number;
  /** Masked output as it goes out, for the asciicast recording: stdout/stderr only. */
  onOutput?(stream: 'stdout' | 'stderr', masked: Buffer): void;
}

const DEFAULT_IDLE_MS = 100;
const EMPTY = Buffer.alloc(0);

/** A framing violation: reported through fail(), never thrown to the caller. */
class ProtocolError extends Error {}

/** How a lane's frame relates to its end: more to come, the lane's last bytes, or those plus the stream's FIN (SPDY). */
type Ending = 'open' | 'end' | 'fin';

/** One output stream's masker and its idle timer. */
interface Lane {
  kind: OutputStreamKind;
  masker: OutputMasker;
  timer: NodeJS.Timeout | undefined;
}

/** What both framings share: lanes (one masker per output stream), idle timers, batching and failure. */
abstract class OutputRewriter {
  protected readonly opts: RewriterOptions;
  private readonly idleMs: number;
  private readonly lanes = new Map<number, Lane>();
  /** Bytes for the agent from the current call, written in one emit(). */
  private out: Buffer[] = [];
  /** After end(), close() or a failure: nothing more is parsed or emitted. */
  protected stopped = false;

  constructor(opts: RewriterOptions) {
    this.opts = opts;
    this.idleMs = opts.idleMs ?? DEFAULT_IDLE_MS;
  }

  /** Bytes the API server sent, split anywhere. */
  push(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    this.guard(() => this.consume(chunk));
  }

  /** The upstream socket ended: every masker's held bytes go out as last frames, then nothing more. */
  end(): void {
    if (this.stopped) return;
    this.guard(() => this.endAll(false));
    this.stop();
  }

  /** Stops at once: timers cleared, held bytes dropped, nothing more emitted. */
  close(): void {
    this.stop();
  }

  protected abstract consume(chunk: Buffer): void;
  /** Frames carrying one lane's masked bytes. */
  protected abstract frame(key: number, masked: Buffer, ending: Ending): void;
  protected abstract kindOf(key: number): OutputStreamKind;

  /** Queues bytes for the agent (flushed at the end of the current call). */
  protected send(...bufs: Buffer[]): void {
    for (const b of bufs) if (b.length) this.out.push(b);
  }

  /** Output data of one lane: masked, framed and the idle timer (re)armed. */
  protected write(key: number, data: Buffer): void {
    let lane = this.lanes.get(key);
    if (!lane) {
      const kind = this.kindOf(key);
      lane = { kind, masker: this.opts.maskerFor(kind, key), timer: undefined };
      this.lanes.set(key, lane);
    }
    // The error stream carries the exit status, written once the process's output is complete, and kubectl
    // over SPDY stops reading other streams when it arrives: what they hold goes out first.
    if (lane.kind === 'error' && this.flushBeforeStatus) this.flushOthers(key);
    this.output(key, lane, lane.masker.write(data), 'open');
    // The status itself is not held either: the client acts on it (exit code) as soon as it is whole.
    if (lane.kind === 'error' && this.flushBeforeStatus) this.output(key, lane, lane.masker.end(), 'open');
    this.arm(key, lane);
  }

  /** Ends one lane: what its masker still holds goes out (with `fin`, a lane never made still gets its FIN). */
  protected endLane(key: number, fin: boolean): void {
    const ending: Ending = fin ? 'fin' : 'end';
    const lane = this.lanes.get(key);
    if (!lane) return this.frame(key, EMPTY, ending);
    this.lanes.delete(key);
    if (lane.timer) clearTimeout(lane.timer);
    this.output(key, lane, lane.masker.end(), ending);
  }

  /** Whether output lanes are flushed when the exit status arrives (see write). */
  protected flushBeforeStatus = false;

  /** Everything the other lanes hold, masked, out now (the process's output is complete); the lanes stay open. */
  private flushOthers(key: number): void {
    for (const [k, other] of this.lanes) {
      if (k === key || other.kind === 'error' || !other.masker.holding) continue;
      this.output(k, other, other.masker.end(), 'open');
      this.arm(k, other);
    }
  }

  protected endAll(fin: boolean): void {
    for (const key of [...this.lanes.keys()]) this.endLane(key, fin);
  }

  /** Forgets a lane and what it holds (the stream was reset: nothing of it may go out any more). */
  protected dropLane(key: number): void {
    const lane = this.lanes.get(key);
    if (!lane) return;
    this.lanes.delete(key);
    if (lane.timer) clearTimeout(lane.timer);
  }

  protected hasLane(key: number): boolean {
    return this.lanes.has(key);
  }

  /** Raised inside consume(): fails the stream. */
  protected protocolError(reason: string): never {
    throw new ProtocolError(reason);
  }

  private output(key: number, lane: Lane, masked: Buffer, ending: Ending): void {
    if (masked.length && (lane.kind === 'stdout' || lane.kind === 'stderr')) this.opts.onOutput?.(lane.kind, masked);
    this.frame(key, masked, ending);
  }

  private arm(key: number, lane: Lane): void {
    if (!lane.masker.holding) {
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = undefined;
      return;
    }
    if (lane.timer) {
      lane.timer.refresh();
      return;
    }
    lane.timer = setTimeout(() => {
      lane.timer = undefined;
      if (this.stopped || this.lanes.get(key) !== lane) return;
      this.guard(() => {
        this.output(key, lane, lane.masker.flushIdle(), 'open');
        this.arm(key, lane);
      });
    }, this.idleMs);
    lane.timer.unref();
  }

  /** Runs one step and writes its output in one emit(); any failure (protocol, masker, emit) fails the stream. */
  private guard(fn: () => void): void {
    try {
      fn();
      const out = this.out;
      this.out = [];
      if (out.length === 1) this.opts.emit(out[0]!);
      else if (out.length > 1) this.opts.emit(Buffer.concat(out));
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.message : `exec output rewriting failed: ${err instanceof Error ? err.message : String(err)}`;
      const wasStopped = this.stopped;
      this.stop();
      if (!wasStopped) this.opts.fail(reason);
    }
  }

  protected stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.out = [];
    for (const lane of this.lanes.values()) if (lane.timer) clearTimeout(lane.timer);
    this.lanes.clear();
  }
}

/** Accumulates up to `need` bytes into `have`; returns the new buffer and how many bytes of `chunk` it took. */
function fill(have: Buffer, chunk: Buffer, off: number, need: number): [Buffer, number] {
  const n = Math.min(need - have.length, chunk.length - off);
  if (n <= 0) return [have, 0];
  const part = chunk.subarray(off, off + n);
  return [have.length ? Buffer.concat([have, part]) : Buffer.from(part), n];
}

// ---------------------------------------------------------------------------------------------------
// WebSocket (RFC 6455)

/** Lane key of channel-less text frames (binary frames use their channel byte, 0-255). */
export const WS_TEXT_KEY = -1;

const WS_CONTINUATION = 0x0;
const WS_TEXT = 0x1;
const WS_BINARY = 0x2;
const WS_CLOSE = 0x8;
const WS_PING = 0x9;
const WS_PONG = 0xa;

/** Header of an unmasked, final frame with the shortest length form. */
function wsHeader(opcode: number, len: number): Buffer {
  if (len < 126) return Buffer.from([0x80 | opcode, len]);
  if (len < 0x10000) {
    const h = Buffer.alloc(4);
    h[0] = 0x80 | opcode;
    h[1] = 126;
    h.writeUInt16BE(len, 2);
    return h;
  }
  const h = Buffer.alloc(10);
  h[0] = 0x80 | opcode;
  h[1] = 127;
  h.writeBigUInt64BE(BigInt(len), 2);
  return h;
}

/** Length of the longest prefix that does not end inside a UTF-8 sequence (text frames must be valid UTF-8 each). */
function utf8Cut(b: Buffer): number {
  let i = b.length - 1;
  while (i >= 0 && i > b.length - 4 && (b[i]! & 0xc0) === 0x80) i--;
  if (i < 0) return b.length;
  const lead = b[i]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return b.length - i < need ? i : b.length;
}

function wsChannelKind(channel: number): OutputStreamKind {
  return channel === 1 ? 'stdout' : channel === 2 ? 'stderr' : channel === 3 ? 'error' : 'unknown';
}

/**
 * Server→agent side of a WebSocket exec/attach stream with a binary channel subprotocol
 * (v5.channel.k8s.io, v4.channel.k8s.io, channel.k8s.io; not base64.channel.k8s.io, whose text
 * messages carry a channel digit and base64 that masking would break). Binary messages are
 * [channel byte, data]; every piece of a data frame is masked as it arrives and goes out as a complete
 * binary message of its own with the same channel byte, so a fragmented or huge message never waits
 * in memory. maskerFor() gets the channel byte as key (WS_TEXT_KEY for text frames).
 */
export class WebSocketChannelRewriter extends OutputRewriter {
  /** A frame header being read, or a whole control frame. */
  private head: Buffer = EMPTY;
  /** Payload bytes of the current data frame still to come. */
  private remaining = 0;
  private frameFin = false;
  /** The open message (its fragments continue until FIN); channel once its first payload byte came. */
  private message: { text: boolean; channel: number | undefined } | undefined;
  /** After the server's close frame nothing more may come (RFC 6455 5.5.1). */
  private closing = false;
  /** Masked text ending inside a UTF-8 sequence, sent with the next text bytes. */
  private textCarry: Buffer = EMPTY;

  constructor(opts: RewriterOptions) {
    super(opts);
  }

  protected kindOf(key: number): OutputStreamKind {
    return key === WS_TEXT_KEY ? 'unknown' : wsChannelKind(key);
  }

  protected consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.closing && !this.stopped) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - off);
        this.remaining -= n;
        this.payload(chunk.subarray(off, off + n));
        off += n;
        if (this.remaining === 0) this.frameDone();
        continue;
      }
      const need = this.need();
      const [head, took] = fill(this.head, chunk, off, need);
      this.head = head;
      off += took;
      // The size needed grows once the length byte is known; parse when it stops growing.
      if (head.length === need && this.need() === need) this.parseHead();
    }
  }

  /** Bytes needed for the header being read (and the whole payload of a control frame); checks it as soon as it can. */
  private need(): number {
    const h = this.head;
    if (h.length < 2) return 2;
    const b0 = h[0]!;
    const opcode = b0 & 0x0f;
    const len7 = h[1]! & 0x7f;
    if ((b0 & 0x70) !== 0) this.protocolError('WebSocket: frame with RSV bits set (a compression extension is not supported)');
    if ((h[1]! & 0x80) !== 0) this.protocolError('WebSocket: the API server sent a masked frame');
    if (opcode >= 0x8) {
      if (opcode !== WS_CLOSE && opcode !== WS_PING && opcode !== WS_PONG) this.protocolError(`WebSocket: unknown control opcode ${opcode}`);
      if ((b0 & 0x80) === 0 || len7 > 125) this.protocolError('WebSocket: fragmented or oversized control frame');
      return 2 + len7;
    }
    if (opcode !== WS_CONTINUATION && opcode !== WS_TEXT && opcode !== WS_BINARY) this.protocolError(`WebSocket: unknown data opcode ${opcode}`);
    return len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
  }

  private parseHead(): void {
    const h = this.head;
    this.head = EMPTY;
    const fin = (h[0]! & 0x80) !== 0;
    const opcode = h[0]! & 0x0f;
    if (opcode >= 0x8) {
      if (opcode === WS_CLOSE) {
        // The agent stops reading after close: what the maskers hold goes first.
        this.endAll(false);
        this.closing = true;
      }
      this.send(h);
      return;
    }
    let len = h[1]! & 0x7f;
    if (len === 126) len = h.readUInt16BE(2);
    else if (len === 127) {
      const big = h.readBigUInt64BE(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) this.protocolError('WebSocket: frame length out of range');
      len = Number(big);
    }
    if (opcode === WS_CONTINUATION) {
      if (!this.message) this.protocolError('WebSocket: continuation frame without a message');
    } else {
      if (this.message) this.protocolError('WebSocket: new message inside a fragmented one');
      // An empty message carries no output: forwarded as it is.
      if (fin && len === 0) return this.send(h);
      this.message = { text: opcode === WS_TEXT, channel: undefined };
    }
    this.frameFin = fin;
    this.remaining = len;
    if (len === 0) this.frameDone();
  }

  private payload(piece: Buffer): void {
    const m = this.message!;
    if (m.text) return this.write(WS_TEXT_KEY, piece);
    if (m.channel === undefined) {
      m.channel = piece[0]!;
      piece = piece.subarray(1);
      if (!piece.length) return;
    }
    this.write(m.channel, piece);
  }

  private frameDone(): void {
    if (!this.frameFin) return;
    const m = this.message!;
    this.message = undefined;
    // A fragmented binary message that never carried a byte: still one (empty) message for the agent.
    if (!m.text && m.channel === undefined) this.send(wsHeader(WS_BINARY, 0));
  }

  protected frame(key: number, masked: Buffer, ending: Ending): void {
    if (key !== WS_TEXT_KEY) {
      if (masked.length) this.send(wsHeader(WS_BINARY, masked.length + 1), Buffer.from([key]), masked);
      return;
    }
    let data = this.textCarry.length ? Buffer.concat([this.textCarry, masked]) : masked;
    this.textCarry = EMPTY;
    if (ending === 'open') {
      const cut = utf8Cut(data);
      this.textCarry = Buffer.from(data.subarray(cut));
      data = data.subarray(0, cut);
    }
    if (data.length) this.send(wsHeader(WS_TEXT, data.length), data);
  }
}

// ---------------------------------------------------------------------------------------------------
// SPDY/3.1
//
// Flow control, read in github.com/moby/spdystream (commit f0be51f), the SPDY stack of kubectl,
// client-go and the kubelet's streaming server; k8s.io/apimachinery/pkg/util/httpstream/spdy/connection.go
// only calls its NewConnection, Serve, CreateStream and Ping:
// - connection.go Serve(), read loop l.344-392: every frame read is queued; SETTINGS and WINDOW_UPDATE
//   (parsed by spdy/read.go, cframeCtor l.120-129) take the `default:` branch, and frameHandler() has no
//   case for them (l.440-441: "unhandled frame type", only a debug message).
// - stream.go WriteData (l.57) writes one data frame per call with no window check; handleDataFrame
//   (connection.go l.588) hands every received frame to the stream with no accounting; nothing outside
//   spdy/ (the framer) ever builds a SETTINGS or WINDOW_UPDATE frame.
// So neither end keeps windows: data lengths the agent receives may differ from what the server sent and
// nothing here compensates (WINDOW_UPDATE/SETTINGS pass through untouched). What does matter: a data
// frame holds at most 2^24-1 bytes (spdy/types.go l.52 MaxDataLength, enforced by write.go l.302), so
// longer masked output is split; and the reader leaves its loop at GOAWAY (connection.go l.384-387), so
// held bytes go out before one.

const SPDY_VERSION = 3;
const SPDY_SYN_STREAM = 1;
const SPDY_SYN_REPLY = 2;
const SPDY_RST_STREAM = 3;
const SPDY_GOAWAY = 7;
const SPDY_HEADERS = 8;
/** Control frame types of SPDY/3 (NOOP, 5, was dropped after SPDY/2; CREDENTIAL, 10, is unused by spdystream, which rejects it). */
const SPDY_CONTROL_TYPES = new Set([1, 2, 3, 4, 6, 7, 8, 9]);
const SPDY_FLAG_FIN = 0x01;
const SPDY_MAX_DATA = 0xffffff;
/** Control frames are forwarded whole, so they are buffered; Kubernetes' are well under a kilobyte. */
const SPDY_MAX_CONTROL = 1024 * 1024;
/** Largest decompressed header block we read (spdystream has no limit; ours only bounds memory). */
const SPDY_MAX_HEADERS = 1024 * 1024;

/** The SPDY/3 draft's header compression dictionary (as in spdystream's spdy/dictionary.go): length-prefixed words, then text. */
const SPDY_DICT_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date',
  'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate',
  'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'user-agent', 'vary', 'via', 'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1',
  'url', 'public', 'set-cookie', 'keep-alive', 'origin',
];
const SPDY_DICT_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
  'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

/** The SPDY/3 zlib dictionary: 1423 bytes, Adler-32 0xe3c6a7c2 (the DICTID senders put in the zlib header). */
export function spdyHeaderDictionary(): Buffer {
  const parts: Buffer[] = [];
  for (const w of SPDY_DICT_WORDS) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(w.length);
    parts.push(len, Buffer.from(w, 'latin1'));
  }
  parts.push(Buffer.from(SPDY_DICT_TAIL, 'latin1'));
  return Buffer.concat(parts);
}

/** zlib's history window: what a later header block may refer back to. */
const ZLIB_WINDOW = 32 * 1024;

/**
 * The header decompressor of one direction. The sender's zlib stream is shared by all header blocks and
 * each block ends with a sync flush (spdystream's write.go: headerCompressor.Flush() per frame), so
 * every block starts a fresh deflate block and only needs the history: the first is a zlib stream with
 * the dictionary, later ones are raw deflate with the last 32 KiB of everything so far as dictionary.
 * (Node's streaming Inflate is asynchronous; this keeps the observer synchronous.)
 */
class HeaderInflater {
  private window: Buffer | undefined;

  inflate(block: Buffer): Buffer {
    const opts = { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: SPDY_MAX_HEADERS };
    const dict = this.window ?? spdyHeaderDictionary();
    const out = this.window ? inflateRawSync(block, { ...opts, dictionary: dict }) : inflateSync(block, { ...opts, dictionary: dict });
    const history = Buffer.concat([dict, out]);
    this.window = Buffer.from(history.subarray(Math.max(0, history.length - ZLIB_WINDOW)));
    return out;
  }
}

/** Reads a SPDY/3 name/value header block (32-bit counts and lengths). */
function parseHeaderBlock(b: Buffer): Map<string, string> {
  const headers = new Map<string, string>();
  let off = 0;
  const u32 = (): number => {
    if (off + 4 > b.length) throw new Error('truncated header block');
    const v = b.readUInt32BE(off);
    off += 4;
    return v;
  };
  const str = (): string => {
    const len = u32();
    if (off + len > b.length) throw new Error('truncated header block');
    const s = b.toString('latin1', off, off + len);
    off += len;
    return s;
  };
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    headers.set(name, str());
  }
  return headers;
}

function spdyKind(streamType: string | undefined): OutputStreamKind {
  return streamType === 'stdout' || streamType === 'stderr' || streamType === 'error' ? streamType : 'unknown';
}

/**
 * Reads (never changes) the agent→server side: SYN_STREAM header blocks name each stream's
 * `streamtype` (Kubernetes remotecommand: stdin, stdout, stderr, error, resize). Any problem stops the
 * observation; kinds learned later stay unknown.
 */
class SpdyClientObserver {
  readonly kinds = new Map<number, OutputStreamKind>();
  private readonly inflater = new HeaderInflater();
  private head: Buffer = EMPTY;
  /** Data payload bytes still to skip. */
  private skip = 0;
  private broken = false;

  push(chunk: Buffer): void {
    if (this.broken) return;
    try {
      this.consume(chunk);
    } catch {
      this.broken = true;
      this.head = EMPTY;
    }
  }

  private consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const need = this.head.length < 8 ? 8 : 8 + this.head.readUIntBE(5, 3);
      const [h, took] = fill(this.head, chunk, off, need);
      this.head = h;
      off += took;
      if (h.length < need) return;
      if (h.length === 8) {
        const len = h.readUIntBE(5, 3);
        if (!this.wanted(h)) {
          this.head = EMPTY;
          this.skip = len;
          continue;
        }
        if (len > SPDY_MAX_CONTROL) throw new Error('control frame too large');
        if (len > 0) continue;
      }
      this.head = EMPTY;
      this.control(h.readUInt16BE(2), h);
    }
  }

  /** Whether a frame (by its header) is one to read whole: those with a stream id we track. */
  private wanted(h: Buffer): boolean {
    if ((h[0]! & 0x80) === 0) return false;
    if ((h.readUInt16BE(0) & 0x7fff) !== SPDY_VERSION) throw new Error('unsupported SPDY version');
    const type = h.readUInt16BE(2);
    return type === SPDY_SYN_STREAM || type === SPDY_SYN_REPLY || type === SPDY_HEADERS || type === SPDY_RST_STREAM;
  }

  private control(type: number, f: Buffer): void {
    if (f.length < 12) throw new Error('short control frame');
    const id = f.readUInt32BE(8) & 0x7fffffff;
    if (type === SPDY_RST_STREAM) {
      this.kinds.delete(id);
      return;
    }
    // Every header block in this direction is inflated: they share one zlib stream.
    const block = f.subarray(type === SPDY_SYN_STREAM ? 18 : 12);
    if (type === SPDY_SYN_STREAM && f.length < 18) throw new Error('short SYN_STREAM');
    const headers = parseHeaderBlock(this.inflater.inflate(block));
    if (type !== SPDY_SYN_STREAM) return;
    const kind = spdyKind(headers.get('streamtype'));
    if (kind === 'unknown') this.kinds.delete(id);
    else this.kinds.set(id, kind);
  }
}

/**
 * Server→agent side of a SPDY/3.1 exec/attach/port-forward stream. Control frames pass byte for byte,
 * in order; every data frame's payload is masked per stream id as it arrives and goes out as data
 * frames of the same stream (FIN on the last one, after what the masker held). maskerFor() gets the
 * stream id as key, and the stream's kind from observeClient().
 */
export class SpdyRewriter extends OutputRewriter {
  private readonly observer = new SpdyClientObserver();
  /** A frame header being read, or a whole control frame. */
  private head: Buffer = EMPTY;
  /** Payload bytes of the current data frame still to come. */
  private remaining = 0;
  private dataStream = 0;
  private dataFin = false;

  constructor(opts: RewriterOptions) {
    super(opts);
    this.flushBeforeStatus = true;
  }

  /**
   * Bytes the agent sent (forwarded unchanged by the caller; call this before forwarding them, so a
   * stream's kind is known before the server can answer on it). Never throws.
   */
  observeClient(chunk: Buffer): void {
    this.observer.push(chunk);
  }

  protected kindOf(key: number): OutputStreamKind {
    return this.observer.kinds.get(key) ?? 'unknown';
  }

  protected consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.stopped) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - off);
        this.remaining -= n;
        this.write(this.dataStream, chunk.subarray(off, off + n));
        off += n;
        if (this.remaining === 0) this.dataDone();
        continue;
      }
      const need = this.head.length < 8 ? 8 : 8 + this.head.readUIntBE(5, 3);
      const [head, took] = fill(this.head, chunk, off, need);
      this.head = head;
      off += took;
      if (head.length < need) return;
      if (head.length === 8) {
        if (this.parseHead()) continue; // a control frame: its payload is read next
      } else this.controlFrame(head);
    }
  }

  /** Reads an 8-byte frame header; true when it starts a control frame whose payload must be read. */
  private parseHead(): boolean {
    const h = this.head;
    const len = h.readUIntBE(5, 3);
    const flags = h[4]!;
    if ((h[0]! & 0x80) !== 0) {
      const version = h.readUInt16BE(0) & 0x7fff;
      const type = h.readUInt16BE(2);
      if (version !== SPDY_VERSION) this.protocolError(`SPDY: unsupported version ${version}`);
      if (!SPDY_CONTROL_TYPES.has(type)) this.protocolError(`SPDY: unknown control frame type ${type}`);
      if (len > SPDY_MAX_CONTROL) this.protocolError(`SPDY: control frame of ${len} bytes`);
      if (len > 0) return true;
      this.controlFrame(h);
      return false;
    }
    const id = h.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) this.protocolError('SPDY: data frame for stream 0');
    if ((flags & ~SPDY_FLAG_FIN) !== 0) this.protocolError(`SPDY: data frame flags 0x${flags.toString(16)}`);
    this.head = EMPTY;
    this.dataStream = id;
    this.dataFin = (flags & SPDY_FLAG_FIN) !== 0;
    this.remaining = len;
    if (len === 0) {
      // Nothing to mask: forwarded as it is, unless a FIN must carry what the masker holds.
      if (this.dataFin && this.hasLane(id)) this.dataDone();
      else {
        if (this.dataFin) this.observer.kinds.delete(id);
        this.send(h);
      }
    }
    return false;
  }

  private dataDone(): void {
    if (!this.dataFin) return;
    this.endLane(this.dataStream, true);
    this.observer.kinds.delete(this.dataStream);
  }

  private controlFrame(f: Buffer): void {
    this.head = EMPTY;
    const type = f.readUInt16BE(2);
    const flags = f[4]!;
    const perStream = type === SPDY_SYN_STREAM || type === SPDY_SYN_REPLY || type === SPDY_HEADERS || type === SPDY_RST_STREAM;
    if (perStream && f.length < 12) this.protocolError(`SPDY: control frame type ${type} too short`);
    const id = perStream ? f.readUInt32BE(8) & 0x7fffffff : 0;
    if (type === SPDY_RST_STREAM) {
      // The kubelet resets its streams when the command is done: what a lane holds is output the process
      // wrote, and goes out (masked, as everything else) before the reset.
      this.endLane(id, false);
      this.observer.kinds.delete(id);
    } else if (type === SPDY_GOAWAY) {
      // spdystream stops reading at GOAWAY: what the maskers hold goes first.
      this.endAll(false);
    } else if (perStream && (flags & SPDY_FLAG_FIN) !== 0) {
      // Headers with FIN half-close the stream: held output goes before it.
      this.endLane(id, false);
    }
    this.send(f);
  }

  protected frame(key: number, masked: Buffer, ending: Ending): void {
    const fin = ending === 'fin';
    if (!masked.length && !fin) return;
    let off = 0;
    do {
      const n = Math.min(SPDY_MAX_DATA, masked.length - off);
      const last = off + n === masked.length;
      const h = Buffer.alloc(8);
      h.writeUInt32BE(key & 0x7fffffff, 0);
      h.writeUInt32BE(((last && fin ? SPDY_FLAG_FIN : 0) << 24) | n, 4);
      this.send(h, masked.subarray(off, off + n));
      off += n;
    } while (off < masked.length);
  }
}
