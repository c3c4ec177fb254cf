// Streaming JSON rewriter. It scans the byte stream incrementally and cuts it into bounded "units" that are
// parsed and masked one at a time:
//  - a top-level value (a single object, or one watch event per line) is one unit, unless
//  - it is an object with an `items` or `rows` array (List, SecretList, Table, PartialObjectMetadataList):
//    then every array element is its own unit and the members around the array (kind, metadata,
//    columnDefinitions) are parsed separately, so memory stays flat however long the list is.
// Every unit is bounded by maxUnitBytes (a unit that grows past it fails the stream: fail closed, never
// pass through unmasked), and so is the whole response (maxResponseBytes). Output is compact JSON, one
// top-level value per line. Work is done in slices: after SLICE_BYTES of units (or SLICE_UNITS units, or
// SLICE_MS) the stream yields to the event loop (setImmediate) before going on, so one large response never holds up
// other requests for longer than a slice (plus one unit, itself bounded).
import { MAX_JSON_DEPTH } from './depth.js';
import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';
import { parseJson } from './json-parse.js';
import { HIDDEN } from './views.js';

export type UnitRole = 'document' | 'item' | 'row';

export interface JsonUnitMasker {
  /** Masks one unit; envelopeKind is the `kind` of the enclosing List/Table for items and rows. */
  mask(value: unknown, role: UnitRole, envelopeKind: string | undefined): unknown;
  /** Called after each processed chunk (e.g. to flush metric counts). */
  flush?(): void;
  /** Sees the members before a List's items / a Table's rows (kind, metadata, columnDefinitions), unmasked. */
  envelope?(env: Record<string, unknown>): void;
}

/**
 * The largest unit masked in one go, which is also the longest the event loop is held by one unit (tens of
 * milliseconds at the masker's throughput). An object the API server stores is at most ~1.5 MiB (etcd's
 * default request limit), so 8 MiB leaves room without letting one response stall the others.
 */
export const DEFAULT_MAX_UNIT_BYTES = 8 * 1024 * 1024;
/** Default bound on one (non-watch) response through the masker. */
export const DEFAULT_MAX_RESPONSE_BYTES = 2 * 1024 * 1024 * 1024;
/** Unit bytes masked before yielding to the event loop. */
const SLICE_BYTES = 512 * 1024;
/** Units masked before yielding to the event loop. */
const SLICE_UNITS = 256;
/** Time spent masking before yielding to the event loop. */
const SLICE_MS = 20;
const OUT_BATCH = 64 * 1024;

type State =
  | 'top' | 'top-value'
  | 'member-start' | 'member-key' | 'member-colon' | 'member-value-peek' | 'member-value' | 'member-next'
  | 'elem-start' | 'elem-value' | 'elem-next';

const Mode = { Container: 0, String: 1, Primitive: 2 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];

export class JsonMaskingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonMaskingError';
  }
}

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

export class JsonMaskStream extends Transform {
  private readonly masker: JsonUnitMasker;
  private readonly maxUnit: number;
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';
  private pos = 0;
  private state: State = 'top';
  // Value scanner (resumable across chunks).
  private vStart = 0;
  private vScan = 0;
  private vDepth = 0;
  private vMode: Mode = Mode.Container;
  private vInStr = false;
  // Envelope (top-level object) tracking.
  private envStart = 0;
  private keyStart = 0;
  private key = '';
  private inTail = false;
  private listKey = '';
  private envKind: string | undefined;
  private firstElem = true;
  private out: string[] = [];
  private outLen = 0;
  private readonly maxResponse: number;
  private received = 0;
  private sliceBytes = 0;
  private sliceUnits = 0;
  private sliceStart = 0;
  /** Yields taken so far (tests check that a large chunk is processed in several slices). */
  yields = 0;
  /** Set by maskComplete: the body is small and whole, so the state machine runs without slices. */
  private whole = false;

  constructor(masker: JsonUnitMasker, opts: { maxUnitBytes?: number; maxResponseBytes?: number } = {}) {
    super({ decodeStrings: true });
    this.masker = masker;
    this.maxUnit = opts.maxUnitBytes ?? DEFAULT_MAX_UNIT_BYTES;
    this.maxResponse = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.maxResponse) {
      cb(this.tooLarge());
      return;
    }
    try {
      this.buf += this.decoder.write(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    this.pump(false, cb);
  }

  override _flush(cb: TransformCallback): void {
    this.buf += this.decoder.end();
    this.pump(true, cb);
  }

  /**
   * Masks a complete body in one call: the same state machine as the stream, without slices, stream
   * callbacks or the copies they make. For small bodies whose length is known (the gate's whole-body path);
   * throws JsonMaskingError wherever the stream would fail. The instance is used up by it.
   */
  maskComplete(body: Buffer): string {
    if (body.length > this.maxResponse) throw this.tooLarge();
    this.whole = true;
    this.buf = this.decoder.write(body) + this.decoder.end();
    this.run(true);
    this.assertEnded();
    this.masker.flush?.();
    const text = this.out.join('');
    this.out = [];
    this.outLen = 0;
    return text;
  }

  /** Masks what the buffer holds, one slice per tick; cb once all of it is done (backpressure holds meanwhile). */
  private pump(final: boolean, cb: TransformCallback): void {
    if (this.destroyed) return cb();
    try {
      this.sliceBytes = 0;
      this.sliceUnits = 0;
      this.sliceStart = performance.now();
      const done = this.run(final);
      this.drainOut();
      this.masker.flush?.();
      if (!done) {
        this.yields++;
        setImmediate(() => this.pump(final, cb));
        return;
      }
      if (final) this.assertEnded();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  /** The refusal of a response past maxResponseBytes (the stream and maskComplete fail alike). */
  private tooLarge(): JsonMaskingError {
    return new JsonMaskingError(`response larger than ${this.maxResponse} bytes: refusing to mask (and pass) more of it`);
  }

  /** At the end of the input the state machine must be between top-level values: anything else is truncated JSON. */
  private assertEnded(): void {
    if (this.state !== 'top') throw new JsonMaskingError(`truncated JSON response (stopped in state ${this.state})`);
  }

  /** Counts a masked unit against the slice; true when the slice is used up. */
  private spent(bytes: number): boolean {
    if (this.whole) return false;
    this.sliceBytes += bytes;
    this.sliceUnits++;
    // Time too: a small unit can be costly to mask (a Helm release record is opened and masked inside).
    return this.sliceBytes >= SLICE_BYTES || this.sliceUnits >= SLICE_UNITS || performance.now() - this.sliceStart >= SLICE_MS;
  }

  private write_(s: string): void {
    this.out.push(s);
    this.outLen += s.length;
    if (this.outLen >= OUT_BATCH && !this.whole) this.drainOut();
  }

  private drainOut(): void {
    if (!this.out.length) return;
    this.push(this.out.join(''), 'utf8');
    this.out = [];
    this.outLen = 0;
  }

  /** Drops consumed input; only called where no earlier offset is still needed. */
  private trim(): void {
    if (this.pos > 0) {
      this.buf = this.buf.slice(this.pos);
      this.pos = 0;
    }
  }

  private checkSize(from: number): void {
    if (this.buf.length - from > this.maxUnit) {
      throw new JsonMaskingError(`JSON unit larger than ${this.maxUnit} bytes: refusing to pass it unmasked`);
    }
  }

  private skipWs(): boolean {
    const s = this.buf;
    while (this.pos < s.length && isWs(s.charCodeAt(this.pos))) this.pos++;
    return this.pos < s.length;
  }

  private beginValue(): void {
    this.vStart = this.pos;
    this.vScan = this.pos;
    this.vDepth = 0;
    this.vInStr = false;
    const c = this.buf.charCodeAt(this.pos);
    if (c === 123 || c === 91) this.vMode = Mode.Container;
    else if (c === 34) {
      this.vMode = Mode.String;
      this.vInStr = true;
      this.vScan = this.pos + 1;
    } else if (c === 45 || (c >= 48 && c <= 57) || c === 116 || c === 102 || c === 110) this.vMode = Mode.Primitive;
    else throw new JsonMaskingError(`invalid JSON: unexpected character ${JSON.stringify(this.buf[this.pos])}`);
  }

  /** Scans the current value; returns its end offset (exclusive) or -1 when more input is needed. */
  private scanValue(final: boolean): number {
    const s = this.buf;
    const n = s.length;
    let i = this.vScan;
    let depth = this.vDepth;
    let inStr = this.vInStr;
    const mode = this.vMode;
    while (i < n) {
      if (inStr) {
        const q = s.indexOf('"', i);
        if (q < 0) {
          i = n;
          break;
        }
        let k = q - 1;
        let bs = 0;
        while (k > this.vStart && s.charCodeAt(k) === 92) {
          bs++;
          k--;
        }
        i = q + 1;
        if ((bs & 1) === 0) {
          inStr = false;
          if (mode === Mode.String) return i;
        }
        continue;
      }
      const c = s.charCodeAt(i);
      if (mode === Mode.Primitive) {
        if (isWs(c) || c === 44 || c === 93 || c === 125) return i;
        i++;
        continue;
      }
      if (c === 34) inStr = true;
      else if (c === 123 || c === 91) {
        if (++depth > MAX_JSON_DEPTH) throw new JsonMaskingError(`JSON nests deeper than ${MAX_JSON_DEPTH} levels: refusing to pass it unmasked`);
      } else if (c === 125 || c === 93) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    this.vScan = i;
    this.vDepth = depth;
    this.vInStr = inStr;
    if (final && mode === Mode.Primitive) return n;
    this.checkSize(this.vStart);
    return -1;
  }

  private parse(text: string): unknown {
    try {
      return parseJson(text);
    } catch (err) {
      throw new JsonMaskingError(`invalid JSON in response: ${(err as Error).message}`);
    }
  }

  /** Runs the state machine; true when it needs more input, false when the slice is used up. */
  private run(final: boolean): boolean {
    for (;;) {
      switch (this.state) {
        case 'top': {
          this.trim();
          if (!this.skipWs()) return true;
          if (this.buf.charCodeAt(this.pos) === 123) {
            this.envStart = this.pos;
            this.pos++;
            this.inTail = false;
            this.listKey = '';
            this.envKind = undefined;
            this.state = 'member-start';
          } else {
            this.beginValue();
            this.state = 'top-value';
          }
          break;
        }
        case 'top-value': {
          const end = this.scanValue(final);
          if (end < 0) return true;
          const v = this.masker.mask(this.parse(this.buf.slice(this.vStart, end)), 'document', undefined);
          if (v !== HIDDEN) this.write_(JSON.stringify(v) + '\n');
          const size = end - this.vStart;
          this.pos = end;
          this.state = 'top';
          if (this.spent(size)) return false;
          break;
        }
        case 'member-start': {
          if (!this.skipWs()) return this.checkSize(this.envStart), true;
          const c = this.buf.charCodeAt(this.pos);
          if (c === 125 && !this.inTail && this.pos === this.firstMemberPos()) {
            if (this.finishEnvelope()) return false;
          } else if (c === 34) {
            this.keyStart = this.pos;
            this.beginValue();
            this.state = 'member-key';
          } else throw new JsonMaskingError(`invalid JSON: expected an object key, got ${JSON.stringify(this.buf[this.pos])}`);
          break;
        }
        case 'member-key': {
          const end = this.scanValue(final);
          if (end < 0) return true;
          this.key = JSON.parse(this.buf.slice(this.keyStart, end)) as string;
          this.pos = end;
          this.state = 'member-colon';
          break;
        }
        case 'member-colon': {
          if (!this.skipWs()) return this.checkSize(this.envStart), true;
          if (this.buf.charCodeAt(this.pos) !== 58) throw new JsonMaskingError('invalid JSON: expected ":"');
          this.pos++;
          this.state = 'member-value-peek';
          break;
        }
        case 'member-value-peek': {
          if (!this.skipWs()) return this.checkSize(this.envStart), true;
          if (!this.inTail && !this.listKey && (this.key === 'items' || this.key === 'rows') && this.buf.charCodeAt(this.pos) === 91) {
            this.startList();
          } else {
            this.beginValue();
            this.state = 'member-value';
          }
          break;
        }
        case 'member-value': {
          const end = this.scanValue(final);
          if (end < 0) return true;
          this.pos = end;
          this.state = 'member-next';
          break;
        }
        case 'member-next': {
          if (!this.skipWs()) return this.checkSize(this.envStart), true;
          const c = this.buf.charCodeAt(this.pos);
          if (c === 44) {
            this.pos++;
            this.state = 'member-start';
          } else if (c === 125) {
            if (this.inTail) this.finishTail();
            else this.finishEnvelope();
          } else throw new JsonMaskingError(`invalid JSON: expected "," or "}", got ${JSON.stringify(this.buf[this.pos])}`);
          break;
        }
        case 'elem-start': {
          if (!this.skipWs()) return true;
          if (this.firstElem && this.buf.charCodeAt(this.pos) === 93) {
            this.endList();
            break;
          }
          this.beginValue();
          this.state = 'elem-value';
          break;
        }
        case 'elem-value': {
          const end = this.scanValue(final);
          if (end < 0) return true;
          const role: UnitRole = this.listKey === 'rows' ? 'row' : 'item';
          const v = this.masker.mask(this.parse(this.buf.slice(this.vStart, end)), role, this.envKind);
          if (v !== HIDDEN) {
            this.write_((this.firstElem ? '' : ',') + JSON.stringify(v));
            this.firstElem = false;
          }
          const size = end - this.vStart;
          this.pos = end;
          this.trim();
          this.state = 'elem-next';
          if (this.spent(size)) return false;
          break;
        }
        case 'elem-next': {
          if (!this.skipWs()) return true;
          const c = this.buf.charCodeAt(this.pos);
          if (c === 44) {
            this.pos++;
            this.state = 'elem-start';
          } else if (c === 93) this.endList();
          else throw new JsonMaskingError(`invalid JSON: expected "," or "]", got ${JSON.stringify(this.buf[this.pos])}`);
          break;
        }
      }
    }
  }

  /** Offset just after the envelope's "{" and any whitespace (an empty object closes there). */
  private firstMemberPos(): number {
    let i = this.envStart + 1;
    while (i < this.buf.length && isWs(this.buf.charCodeAt(i))) i++;
    return i;
  }

  /** The top-level object ended without an items/rows array: it is one unit. True when the slice is used up. */
  private finishEnvelope(): boolean {
    const end = this.pos + 1;
    const v = this.masker.mask(this.parse(this.buf.slice(this.envStart, end)), 'document', undefined);
    if (v !== HIDDEN) this.write_(JSON.stringify(v) + '\n');
    const size = end - this.envStart;
    this.pos = end;
    this.state = 'top';
    return this.spent(size);
  }

  /** `"items": [` (or rows) found: emit the members before it, then stream the elements one by one. */
  private startList(): void {
    let prefix = this.buf.slice(this.envStart + 1, this.keyStart).trimEnd();
    if (prefix.endsWith(',')) prefix = prefix.slice(0, -1);
    const env = this.parse('{' + prefix + '}') as Record<string, unknown>;
    this.envKind = typeof env.kind === 'string' ? env.kind : undefined;
    this.masker.envelope?.(env);
    const masked = JSON.stringify(this.masker.mask(env, 'document', undefined));
    const inner = masked.slice(1, -1);
    this.write_('{' + inner + (inner ? ',' : '') + JSON.stringify(this.key) + ':[');
    this.listKey = this.key;
    this.firstElem = true;
    this.pos++; // past "["
    this.trim();
    this.state = 'elem-start';
  }

  private endList(): void {
    this.write_(']');
    this.pos++; // past "]"
    this.trim();
    this.envStart = 0;
    this.inTail = true;
    this.state = 'member-next';
  }

  /** Members after the array: parsed as one object (bounded) and appended. */
  private finishTail(): void {
    let tail = this.buf.slice(0, this.pos).trim();
    if (tail.startsWith(',')) tail = tail.slice(1);
    if (tail.trim()) {
      const masked = JSON.stringify(this.masker.mask(this.parse('{' + tail + '}'), 'document', undefined));
      this.write_(',' + masked.slice(1, -1));
    }
    this.write_('}\n');
    this.pos++;
    this.inTail = false;
    this.listKey = '';
    this.state = 'top';
  }
}
