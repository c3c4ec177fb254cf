// Masks container logs (pods/log, text/plain, incl. follow) line by line. The line buffer is bounded: a
// line longer than maxLineBytes is masked in pieces (cut at whitespace where possible) and never held
// whole. PEM private key blocks span lines: every line from BEGIN to END is masked.
import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';
import { PEM_BEGIN_RE, PEM_END_RE, bump, type MaskCounts, type TextMasker } from './detectors.js';

// The detectors live in detectors.ts: one list for logs and JSON.
export { detectors, TextMasker, type Detector } from './detectors.js';

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;
/** Lines a PEM block may span before the masker gives up waiting for END (it still masks what it saw). */
const MAX_PEM_LINES = 10000;
// A PEM body line, optionally after a `kubectl logs --timestamps` prefix: base64, a header, or blank.
const PEM_BODY = /^(?:\d{4}-\d{2}-\d{2}T[0-9:.]+Z\s)?\s*(?:[A-Za-z0-9+/=]*|[A-Za-z-]+: .*)\s*$/;

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
      if (PEM_END_RE.test(line)) {
        this.inPem = false;
        return this.markWhole(line);
      }
      if (PEM_BODY.test(line) && this.pemLines < MAX_PEM_LINES) {
        this.pemLines++;
        return line.trim() === '' ? line : this.markWhole(line);
      }
      this.inPem = false;
    }
    const begin = PEM_BEGIN_RE.exec(line);
    if (begin && !PEM_END_RE.test(line.slice(begin.index))) {
      // A block starts here and continues on the next lines.
      this.inPem = true;
      this.pemLines = 0;
      const before = this.text.mask(line.slice(0, begin.index), 'log', this.counts);
      bump(this.counts, 'log');
      return before + this.text.marker.mark(line.slice(begin.index));
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

  constructor(text: TextMasker, opts: LogMaskOptions = {}) {
    super({ decodeStrings: true });
    this.lines = new LogLineMasker(text);
    this.maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.onCounts = opts.onCounts;
    this.partialMs = opts.partialLineFlushMs ?? 1000;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.buf += this.decoder.write(chunk);
    this.process(false);
    this.armTimer();
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.clearTimer();
    this.buf += this.decoder.end();
    this.process(true);
    cb();
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
