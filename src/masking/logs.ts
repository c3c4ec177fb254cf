// Masks container logs (pods/log, text/plain, incl. follow) line by line. The line buffer is bounded: a
// line longer than maxLineBytes is masked in pieces (cut at whitespace where possible) and never held
// whole. PEM private key blocks span lines: every line from BEGIN to END is masked. A large chunk is
// masked in slices of SLICE_CHARS, yielding to the event loop in between (other requests go on).
import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';
import { bump, type MaskCounts, type TextMasker } from './detectors.js';
import { isBase64Code, isSpaceCode } from './char-class.js';
import { findPemBegin, findPemEnd } from './scanners.js';

// The detectors live in detectors.ts: one list for logs and JSON.
export { detectors, TextMasker, type Detector } from './detectors.js';

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;
/** Lines a PEM block may span before the masker gives up waiting for END (it still masks what it saw). */
const MAX_PEM_LINES = 10000;
/** Characters of a log chunk masked before yielding to the event loop. */
const SLICE_CHARS = 256 * 1024;

/** Length of a `kubectl logs --timestamps` prefix (2026-11-24T13:00:00.123Z + one space) at the start, or 0. */
function timestampPrefixLength(line: string): number {
  const d = (i: number) => { const c = line.charCodeAt(i); return c >= 48 && c <= 57; };
  if (line.length < 12 || !(d(0) && d(1) && d(2) && d(3) && line[4] === '-' && d(5) && d(6) && line[7] === '-' && d(8) && d(9) && line[10] === 'T')) return 0;
  let i = 11;
  while (i < line.length && (d(i) || line[i] === ':' || line[i] === '.')) i++;
  if (i === 11 || line[i] !== 'Z' || !isSpaceCode(line.charCodeAt(i + 1))) return 0;
  return i + 2;
}

/**
 * A PEM body line, optionally after a --timestamps prefix: base64, a `Header: value` line, or blank.
 * (Was `^(?:ts\s)?\s*(?:[A-Za-z0-9+/=]*|[A-Za-z-]+: .*)\s*$`, quadratic on long lines; one pass now.)
 */
export function isPemBodyLine(line: string): boolean {
  let s = timestampPrefixLength(line);
  let e = line.length;
  while (s < e && isSpaceCode(line.charCodeAt(s))) s++;
  while (e > s && isSpaceCode(line.charCodeAt(e - 1))) e--;
  let i = s;
  while (i < e && isBase64Code(line.charCodeAt(i))) i++;
  if (i === e) return true;
  // Header: [A-Za-z-]+ ": " rest
  let h = s;
  while (h < e) {
    const c = line.charCodeAt(h);
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45)) break;
    h++;
  }
  return h > s && line[h] === ':' && line[h + 1] === ' ';
}

export interface LogMaskOptions {
  maxLineBytes?: number;
  /**
   * A partial line (no newline yet) older than this is masked and emitted, so `logs -f` shows prompts and
   * progress output (default 1000 ms; 0 waits for the newline). A secret written in two pieces more than
   * this apart could be split; secrets are normally written in one go.
   */
  partialLineFlushMs?: number;
  /** Receives counts after each chunk (the factory feeds airlock_masked_values_total). */
  onCounts?: (counts: MaskCounts) => void;
}

/** Stateful line masker (PEM state carries across lines); usable without streams. */
export class LogLineMasker {
  private readonly text: TextMasker;
  private inPem = false;
  private pemLines = 0;
  readonly counts: MaskCounts = {};

  constructor(text: TextMasker) {
    this.text = text;
  }

  /** Masks one line (without its line terminator). */
  line(line: string): string {
    if (this.inPem) {
      if (findPemEnd(line) >= 0) {
        this.inPem = false;
        return this.markWhole(line);
      }
      if (isPemBodyLine(line) && this.pemLines < MAX_PEM_LINES) {
        this.pemLines++;
        return line.trim() === '' ? line : this.markWhole(line);
      }
      this.inPem = false;
    }
    const begin = findPemBegin(line);
    if (begin && findPemEnd(line, begin.headerEnd) < 0) {
      // A block starts here and continues on the next lines.
      this.inPem = true;
      this.pemLines = 0;
      const before = this.text.mask(line.slice(0, begin.start), 'log', this.counts);
      bump(this.counts, 'log');
      return before + this.text.marker.mark(line.slice(begin.start));
    }
    return this.text.mask(line, 'log', this.counts);
  }

  private markWhole(line: string): string {
    bump(this.counts, 'log');
    return this.text.marker.mark(line);
  }

  takeCounts(): MaskCounts {
    const c = { ...this.counts };
    for (const k of Object.keys(this.counts)) delete this.counts[k as keyof MaskCounts];
    return c;
  }
}

export class LogMaskStream extends Transform {
  private readonly lines: LogLineMasker;
  private readonly maxLine: number;
  private readonly onCounts?: (counts: MaskCounts) => void;
  private readonly decoder = new StringDecoder('utf8');
  private readonly partialMs: number;
  private timer: NodeJS.Timeout | undefined;
  private buf = '';
  /** Decoded input not yet handed to the line masker (a large chunk is masked in slices). */
  private pending = '';
  /** Yields taken so far (tests check that a large chunk is processed in several slices). */
  yields = 0;

  constructor(text: TextMasker, opts: LogMaskOptions = {}) {
    super({ decodeStrings: true });
    this.lines = new LogLineMasker(text);
    this.maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.onCounts = opts.onCounts;
    this.partialMs = opts.partialLineFlushMs ?? 1000;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.clearTimer(); // no partial-line flush while a chunk is being masked in slices
    this.pending += this.decoder.write(chunk);
    this.pump(false, cb);
  }

  override _flush(cb: TransformCallback): void {
    this.clearTimer();
    this.pending += this.decoder.end();
    this.pump(true, cb);
  }

  /** Feeds pending input to the line masker SLICE_CHARS at a time, yielding in between; cb when all is done. */
  private pump(final: boolean, cb: TransformCallback): void {
    if (this.destroyed) return cb();
    const take = this.pending.length > SLICE_CHARS ? this.sliceEnd() : this.pending.length;
    this.buf += this.pending.slice(0, take);
    this.pending = this.pending.slice(take);
    const more = this.pending.length > 0;
    this.process(final && !more);
    if (more) {
      this.yields++;
      setImmediate(() => this.pump(final, cb));
      return;
    }
    if (!final) this.armTimer();
    cb();
  }

  /** A slice end after a newline when one is near, so lines are not cut by slicing. */
  private sliceEnd(): number {
    const nl = this.pending.lastIndexOf('\n', SLICE_CHARS);
    return nl > 0 ? nl + 1 : SLICE_CHARS;
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.clearTimer();
    cb(err);
  }

  private armTimer(): void {
    this.clearTimer();
    if (this.partialMs <= 0 || this.buf === '') return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.destroyed && !this.writableFinished) this.process(true);
    }, this.partialMs);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private process(final: boolean): void {
    const out: string[] = [];
    let start = 0;
    const s = this.buf;
    for (;;) {
      const nl = s.indexOf('\n', start);
      if (nl < 0) break;
      const cr = nl > start && s.charCodeAt(nl - 1) === 13 ? 1 : 0;
      out.push(this.lines.line(s.slice(start, nl - cr)) + (cr ? '\r\n' : '\n'));
      start = nl + 1;
    }
    let rest = s.slice(start);
    // Bounded buffer: emit over-long lines in pieces, cut at the last whitespace when there is one.
    while (rest.length > this.maxLine) {
      let cut = rest.lastIndexOf(' ', this.maxLine);
      if (cut < this.maxLine / 2) cut = this.maxLine;
      out.push(this.lines.line(rest.slice(0, cut)));
      rest = rest.slice(cut);
    }
    if (final && rest.length) {
      out.push(this.lines.line(rest));
      rest = '';
    }
    this.buf = rest;
    if (out.length) this.push(out.join(''), 'utf8');
    const counts = this.lines.takeCounts();
    if (Object.keys(counts).length) this.onCounts?.(counts);
  }
}
