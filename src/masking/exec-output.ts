// Masks one output stream of an exec/attach session (stdout, stderr or the error channel), byte for byte.
//
// - Bytes, not text: the stream is read as latin1 (one character per byte), so binary output (the tar of
//   `kubectl cp`) passes unchanged unless it holds a secret, and a UTF-8 character split across frames is
//   never mangled. Known values are searched for as the latin1 spelling of their UTF-8 bytes.
// - Known values (the target pod's env, Secret and ConfigMap values): every spelling (value-forms.ts), and
//   each line of a multi-line value on its own, because the stream is masked line by line, and every
//   FRAGMENT_CHARS-long run of the shorter values (output that cuts a value shows fewer characters than that).
// - Detectors and policy patterns: the log masker's (PEM blocks across lines included).
// - Split across frames: a line goes out when its newline arrives. A partial line (a prompt, progress
//   output) goes out when the stream has been idle for a while (flushIdle), except a tail that begins a
//   known value and is at least HOLD_MIN_CHARS long: that stays until the value is complete (masked) or
//   ruled out. So a value written slowly, a few bytes at a time, leaks at most HOLD_MIN_CHARS - 1 leading
//   characters; the rest is masked even when its start went out earlier.
//   A trailing word waits up to about a second more, so a token or `password=...` written in two pieces
//   reaches the detectors whole.
// - Bounded: a line longer than maxLineBytes goes out in pieces (holding a possible value's start and a
//   trailing word of up to 4 KiB).
import { NeedleMatcher } from './aho-corasick.js';
import { bump, type MaskCounts, type TextMasker } from './detectors.js';
import { DEFAULT_MAX_LINE_BYTES, LogLineMasker } from './logs.js';
import { isMarker } from './marker.js';
import { byteForms, MIN_KNOWN_VALUE_LENGTH, valueForms } from './value-forms.js';

/** A tail this long that begins a known value is held until the value completes or is ruled out. */
export const HOLD_MIN_CHARS = 4;

export interface ExecOutputOptions {
  /** Detectors and policy patterns (no scrubbers: known values are matched here, on bytes). */
  text: TextMasker;
  /** The target's secret values, searchable (built once per exec, shared by its streams). */
  known: ExecKnownValues | undefined;
  maxLineBytes?: number;
  /** Receives counts after each piece of output. */
  onCounts?: (counts: MaskCounts) => void;
}

/**
 * A run of this many characters of a known value is masked wherever it appears, not only the whole value:
 * output that cuts a value (`ps -o args:40`, a column width, `head -c`) shows at most this many minus one
 * of its characters.
 */
export const FRAGMENT_CHARS = 8;
/** Values up to this long are searched for in fragments too (longer ones: whole, in every spelling). */
const FRAGMENT_VALUE_LIMIT = 1024;
/** Values longer than this are searched for as they are and in standard base64 only (a certificate chain). */
const FULL_FORMS_LIMIT = 4096;
/**
 * Most needle characters one exec may need: the automaton is built on the event loop, about 0.45 µs per
 * character on this project's 2-core benchmark machine, so this bounds a stall at about 0.3 s. A pod's few
 * Secrets need far less (100 values of 40 characters: about 100,000).
 */
export const MAX_NEEDLE_CHARS = 600_000;

export class TooManyValues extends Error {}

/** The latin1 spellings (one character per byte) of a value's forms. */
function formsOf(piece: string | Buffer): string[] {
  const bytes = Buffer.isBuffer(piece) ? piece : Buffer.from(piece, 'utf8');
  const latin1 = (f: string) => Buffer.from(f, 'utf8').toString('latin1');
  if (bytes.length > FULL_FORMS_LIMIT) {
    const std = bytes.toString('base64');
    return [...new Set([bytes.toString('latin1'), std])];
  }
  const text = Buffer.isBuffer(piece) ? undefined : piece;
  // Bytes that are not UTF-8 (keystores) are searched for as bytes and in their encodings.
  return [...new Set([bytes.toString('latin1'), ...(text !== undefined ? valueForms(text) : byteForms(bytes)).map(latin1)])];
}

/**
 * The secret values of an exec's target, searchable in latin1 output: every spelling of each value (and of
 * each line of a multi-line value, since output is masked line by line), and every FRAGMENT_CHARS-long run
 * of the shorter ones. Built once per exec. Throws TooManyValues past MAX_NEEDLE_CHARS.
 */
export class ExecKnownValues {
  readonly matcher: NeedleMatcher;
  /** needle index -> index into pieces */
  readonly owner: number[];
  /** The values (and lines of multi-line values) the needles spell. */
  readonly pieces: (string | Buffer)[];
  /** Longest needle: how much output that went out must be kept to find values that began in it. */
  readonly longest: number;

  private constructor(matcher: NeedleMatcher, owner: number[], pieces: (string | Buffer)[], longest: number) {
    this.matcher = matcher;
    this.owner = owner;
    this.pieces = pieces;
    this.longest = longest;
  }

  static of(values: readonly (string | Buffer)[]): ExecKnownValues | undefined {
    const pieces = new Map<string, string | Buffer>();
    const add = (p: string | Buffer) => pieces.set(Buffer.isBuffer(p) ? `b:${p.toString('latin1')}` : `s:${p}`, p);
    for (const v of values) {
      if (v.length < MIN_KNOWN_VALUE_LENGTH || (typeof v === 'string' && isMarker(v))) continue;
      add(v);
      if (typeof v === 'string' && v.includes('\n')) for (const l of v.split(/\r?\n/)) if (l.trim().length >= MIN_KNOWN_VALUE_LENGTH) add(l);
    }
    if (pieces.size === 0) return undefined;
    const list = [...pieces.values()];
    const needles: string[] = [];
    const owner: number[] = [];
    let total = 0;
    let longest = 0;
    const push = (n: string, i: number) => {
      needles.push(n);
      owner.push(i);
      total += n.length;
      longest = Math.max(longest, n.length);
      if (total > MAX_NEEDLE_CHARS) throw new TooManyValues(`the values to mask need more than ${MAX_NEEDLE_CHARS} characters of search patterns`);
    };
    list.forEach((p, i) => {
      for (const f of formsOf(p)) push(f, i);
      const raw = Buffer.isBuffer(p) ? p.toString('latin1') : Buffer.from(p, 'utf8').toString('latin1');
      if (raw.length > FRAGMENT_CHARS && raw.length <= FRAGMENT_VALUE_LIMIT) {
        for (let k = 0; k + FRAGMENT_CHARS <= raw.length; k++) push(raw.slice(k, k + FRAGMENT_CHARS), i);
      }
    });
    return new ExecKnownValues(new NeedleMatcher(needles, undefined, owner), owner, list, longest);
  }

  /** Whether bytes hold a value, or a fragment of one, in any of its spellings. */
  contains(bytes: Buffer): boolean {
    return this.matcher.test(bytes.toString('latin1'));
  }
}

/** Idle flushes (of about 100 ms each) a trailing word is held for before it goes out as it is. */
const WORD_HOLD_FLUSHES = 10;
/** Longest trailing word held back when a long line is cut. */
const MAX_HELD_WORD = 4096;

/** Where the run of non-space characters that ends line[from, to) begins (to when it ends in a space). */
function trailingWordStart(line: string, from: number, to: number): number {
  let i = to;
  while (i > from) {
    const c = line.charCodeAt(i - 1);
    if (c === 32 || c === 9 || c === 13) break;
    i--;
  }
  return i;
}

export class ExecOutputMasker {
  private readonly lines: LogLineMasker;
  private readonly text: TextMasker;
  private readonly known: ExecKnownValues | undefined;
  private readonly maxLine: number;
  private readonly onCounts: ((counts: MaskCounts) => void) | undefined;
  private readonly counts: MaskCounts = {};
  /** The current line (latin1, without its newline) and how many of its characters already went out. */
  private line = '';
  private sent = 0;
  /** Idle flushes since the last input. */
  private idleFlushes = 0;

  constructor(opts: ExecOutputOptions) {
    this.text = opts.text;
    this.lines = new LogLineMasker(opts.text);
    this.known = opts.known;
    this.maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.onCounts = opts.onCounts;
  }

  get holding(): boolean {
    return this.line.length > this.sent;
  }

  write(chunk: Buffer): Buffer {
    this.idleFlushes = 0;
    const s = chunk.toString('latin1');
    let out = '';
    let at = 0;
    for (;;) {
      const nl = s.indexOf('\n', at);
      if (nl < 0) break;
      this.line += s.slice(at, nl);
      out += this.finishLine() + '\n';
      at = nl + 1;
    }
    this.line += s.slice(at);
    while (this.line.length - this.sent > this.maxLine) {
      const piece = this.emitPartial(true);
      if (piece === undefined) break;
      out += piece;
    }
    return this.output(out);
  }

  flushIdle(): Buffer {
    this.idleFlushes++;
    return this.output(this.emitPartial(false) ?? '');
  }

  end(): Buffer {
    return this.output(this.holding || this.line.length ? this.finishLine() : '');
  }

  private output(out: string): Buffer {
    const counts = this.lines.takeCounts();
    for (const [k, n] of Object.entries(this.counts)) {
      counts[k as keyof MaskCounts] = (counts[k as keyof MaskCounts] ?? 0) + n;
      delete this.counts[k as keyof MaskCounts];
    }
    if (Object.keys(counts).length) this.onCounts?.(counts);
    return Buffer.from(out, 'latin1');
  }

  /** The rest of the current line, masked (a carriage return before the newline is kept as is). */
  private finishLine(): string {
    const cr = this.line.endsWith('\r') ? '\r' : '';
    const body = cr ? this.line.slice(0, -1) : this.line;
    const out = this.sent >= body.length ? '' : this.masked(body, this.sent, body.length);
    this.line = '';
    this.sent = 0;
    return out + cr;
  }

  /**
   * What of a partial line may go out now: all of it, except a tail that may begin a known value (always
   * held when `force`, the line being too long; otherwise only when at least HOLD_MIN_CHARS long).
   * Undefined when nothing may go out.
   */
  private emitPartial(force: boolean): string | undefined {
    const len = this.line.length;
    let cut = len;
    if (this.known) {
      const open = this.known.matcher.openPrefixLength(this.line, 0, len);
      if (force || open >= HOLD_MIN_CHARS) cut = len - open;
      // A complete value that reaches into the held tail goes out whole, as its marker.
      for (const r of this.known.matcher.regions(this.line, 0, len)) if (r.start < cut && r.end > cut) cut = r.end;
    }
    // A trailing word (a token, `password=hun`) waits too, so the detectors see it whole: up to
    // WORD_HOLD_FLUSHES idle flushes (about a second) when idle, and a bounded length when the line is cut.
    const word = trailingWordStart(this.line, this.sent, cut);
    if (word < cut && (force ? cut - word <= MAX_HELD_WORD : this.idleFlushes < WORD_HOLD_FLUSHES && cut - word >= HOLD_MIN_CHARS)) cut = word;
    if (cut <= this.sent) return undefined;
    const out = this.masked(this.line, this.sent, cut);
    this.sent = cut;
    // Keep the line short: what went out is only needed to find values that started in it.
    const keepFrom = Math.max(0, this.sent - this.longestNeedle());
    if (keepFrom > 0) {
      this.line = this.line.slice(keepFrom);
      this.sent -= keepFrom;
    }
    return out;
  }

  /** line[from, to) with known values (found in the whole line, so ones that began before `from` too) marked, then detectors. */
  private masked(line: string, from: number, to: number): string {
    let out = '';
    let at = from;
    if (this.known) {
      const { matcher, owner, pieces } = this.known;
      for (const r of matcher.regions(line, 0, to)) {
        if (r.end <= from) continue;
        const start = Math.max(r.start, at);
        out += line.slice(at, start);
        const value = r.needle >= 0 ? pieces[owner[r.needle]!]! : Buffer.from(line.slice(r.start, r.end), 'latin1');
        out += this.text.marker.mark(value);
        bump(this.counts, 'secret');
        at = r.end;
      }
    }
    out += line.slice(at, to);
    return this.lines.line(out);
  }

  private longestNeedle(): number {
    return this.known?.longest ?? 0;
  }
}
