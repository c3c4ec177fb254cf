// Hand-written scanners behind the detectors. Each one finds its anchor with indexOf and reads forward a
// bounded way, or over a run it then jumps past, so every character is read a constant number of times:
// time is linear in the text whatever it holds (no regex backtracking). Each scanner reports the secret
// part of a match as [start, end) and mirrors the regex it replaces (kept in the comments).
import type { ScanStats } from './aho-corasick.js';
import { isAlnumCode, isBase64Code, isSpaceCode, isUpperAlnumCode, isWordBoundary, isWordCode } from './char-class.js';

export type Emit = (start: number, end: number) => void;
export type Scan = (text: string, lower: string, emit: Emit, stats?: ScanStats) => void;

function count(stats: ScanStats | undefined, n: number): void {
  if (stats) stats.ops += n;
}

/** End of the run of chars accepted by `body` starting at i, reading at most `cap` chars. */
function runEnd(text: string, i: number, body: (c: number) => boolean, cap = Infinity, stats?: ScanStats): number {
  const start = i;
  const limit = Math.min(text.length, start + cap);
  while (i < limit && body(text.charCodeAt(i))) i++;
  count(stats, i - start + 1);
  return i;
}

function skipSpaces(text: string, i: number, stats?: ScanStats): number {
  return runEnd(text, i, isSpaceCode, Infinity, stats);
}

function isQuote(c: number): boolean {
  return c === 34 || c === 39;
}

export interface PrefixedTokenSpec {
  /** Literal prefixes (case-sensitive). */
  prefixes: readonly string[];
  /** Regex \b required before the prefix. */
  boundaryBefore: boolean;
  body: (c: number) => boolean;
  min: number;
  max?: number;
  /** What must follow the body: nothing, a regex \b, or a char outside the body (negative lookahead). */
  end: 'none' | 'boundary' | 'not-body';
  /** Report the prefix as part of the secret (default true). */
  includePrefix?: boolean;
  /**
   * Cheap pre-check on the whole text (false skips the per-prefix searches): a literal every match holds,
   * or a regex of fixed-length literal alternatives (linear: bounded work per start position).
   */
  hint?: string | RegExp;
}

/**
 * `\b?PREFIX BODY{min,max} (\b | (?!BODY))?`. The body is read up to max+1 chars once per prefix occurrence;
 * for an unbounded body a failed or finished match resumes at the end of the run (a later start inside the
 * same run has a shorter body and the same end, so it cannot match either): linear.
 */
export function prefixedToken(spec: PrefixedTokenSpec): Scan {
  const cap = spec.max === undefined ? Infinity : spec.max + 1;
  const hint = spec.hint;
  return (text, _lower, emit, stats) => {
    if (hint !== undefined && (typeof hint === 'string' ? !text.includes(hint) : !hint.test(text))) return;
    for (const prefix of spec.prefixes) {
      let from = 0;
      for (;;) {
        const s = text.indexOf(prefix, from);
        count(stats, 1);
        if (s < 0) break;
        const b = s + prefix.length;
        if (spec.boundaryBefore && !isWordBoundary(text, s)) {
          from = s + 1;
          continue;
        }
        const r = runEnd(text, b, spec.body, cap, stats);
        const len = r - b;
        let end = -1;
        if (len >= spec.min) {
          if (spec.end === 'none') end = spec.max === undefined ? r : Math.min(r, b + spec.max);
          else if (spec.end === 'not-body') end = spec.max !== undefined && len > spec.max ? -1 : r;
          else {
            // Greedy body, then back off to the last position where \b holds.
            for (let p = Math.min(r, b + (spec.max ?? Infinity)); p >= b + spec.min; p--) {
              count(stats, 1);
              if (isWordBoundary(text, p)) {
                end = p;
                break;
              }
            }
          }
        }
        if (end >= 0) emit(spec.includePrefix === false ? b : s, end);
        from = end >= 0 ? Math.max(end, s + 1) : spec.max === undefined ? Math.max(r, s + 1) : s + 1;
      }
    }
  };
}

const PEM_BEGIN = '-----BEGIN ';
const PEM_END = '-----END ';
const PEM_DASHES = '-----';
/** Longest label between BEGIN and the closing dashes that is looked at ("ENCRYPTED PRIVATE KEY" etc.). */
const MAX_PEM_LABEL = 80;

/** `(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?` on a bounded label. */
export function isPrivateKeyLabel(label: string): boolean {
  let rest = label;
  if (rest.endsWith(' BLOCK')) rest = rest.slice(0, -6);
  if (!rest.endsWith('PRIVATE KEY')) return false;
  const words = rest.slice(0, -'PRIVATE KEY'.length);
  if (words === '') return true;
  if (!words.endsWith(' ')) return false;
  return words.slice(0, -1).split(' ').every((w) => w.length > 0 && [...w].every((ch) => isUpperAlnumCode(ch.charCodeAt(0))));
}

/** Offset just after a `-----<kind> <label>-----` header at i whose label is a private key label, or -1. */
function pemHeaderEnd(text: string, i: number, kind: string, stats?: ScanStats): number {
  const labelStart = i + kind.length;
  const close = text.indexOf(PEM_DASHES, labelStart);
  count(stats, Math.min(MAX_PEM_LABEL, text.length - labelStart) + 1);
  if (close < 0 || close - labelStart > MAX_PEM_LABEL) return -1;
  return isPrivateKeyLabel(text.slice(labelStart, close)) ? close + PEM_DASHES.length : -1;
}

/** Offset of a private-key BEGIN header at or after `from` and its end, or undefined. */
export function findPemBegin(text: string, from = 0, stats?: ScanStats): { start: number; headerEnd: number } | undefined {
  for (let i = text.indexOf(PEM_BEGIN, from); i >= 0; i = text.indexOf(PEM_BEGIN, i + 1)) {
    const end = pemHeaderEnd(text, i, PEM_BEGIN, stats);
    if (end >= 0) return { start: i, headerEnd: end };
  }
  return undefined;
}

/** End of the first private-key END footer at or after `from`, or -1. */
export function findPemEnd(text: string, from = 0, stats?: ScanStats): number {
  for (let i = text.indexOf(PEM_END, from); i >= 0; i = text.indexOf(PEM_END, i + 1)) {
    const end = pemHeaderEnd(text, i, PEM_END, stats);
    if (end >= 0) return end;
  }
  return -1;
}

/** `-----BEGIN … PRIVATE KEY-----[\s\S]*?(?:-----END … PRIVATE KEY-----|$)`: a block, to its END or the text's end. */
export const scanPem: Scan = (text, _lower, emit, stats) => {
  let from = 0;
  for (;;) {
    const begin = findPemBegin(text, from, stats);
    if (!begin) return;
    const end = findPemEnd(text, begin.headerEnd, stats);
    const stop = end < 0 ? text.length : end;
    emit(begin.start, stop);
    from = stop;
  }
};

/**
 * `\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*` (a JWT). Each header run is read once: a
 * failed start resumes at the run's end (starts inside the run share its end and are shorter), and the
 * payload run is read at most twice (as payload, then possibly as the next header).
 */
export const scanJwt: Scan = (text, _lower, emit, stats) => {
  const seg = (c: number) => isWordCode(c) || c === 45;
  let from = 0;
  for (;;) {
    const s = text.indexOf('eyJ', from);
    count(stats, 1);
    if (s < 0) return;
    if (!isWordBoundary(text, s)) {
      from = s + 1;
      continue;
    }
    const h = runEnd(text, s + 3, seg, Infinity, stats);
    if (h - (s + 3) < 8 || text.charCodeAt(h) !== 46 || !text.startsWith('eyJ', h + 1)) {
      from = Math.max(h, s + 1);
      continue;
    }
    const p = runEnd(text, h + 4, seg, Infinity, stats);
    if (p - (h + 4) < 8 || text.charCodeAt(p) !== 46) {
      from = h + 1;
      continue;
    }
    const sig = runEnd(text, p + 1, seg, Infinity, stats);
    emit(s, sig);
    from = sig;
  }
};

const URL_USERINFO_STOP = (c: number) => !(isSpaceCode(c) || c === 47 || c === 63 || c === 35 || c === 34 || c === 39 || c === 60 || c === 62);
const isSchemeCode = (c: number) => isAlnumCode(c) || c === 43 || c === 46 || c === 45;

/**
 * Password of `scheme://user:pass@host`: the authority (up to the first / ? # whitespace quote or <>) is
 * split at its LAST @ (passwords may hold an unencoded @) and the password is what follows the first :
 * of the userinfo (the user may be empty: redis://:pass@host). Authorities are disjoint runs: linear.
 */
export const scanUrlPassword: Scan = (text, _lower, emit, stats) => {
  let from = 0;
  for (;;) {
    const sep = text.indexOf('://', from);
    count(stats, 1);
    if (sep < 0) return;
    from = sep + 3;
    // The scheme: at least one char, starting with a letter.
    let k = sep;
    while (k > 0 && isSchemeCode(text.charCodeAt(k - 1)) && sep - k < 64) k--;
    count(stats, sep - k + 1);
    while (k < sep && !isAlnumCode(text.charCodeAt(k))) k++;
    const first = text.charCodeAt(k);
    if (k === sep || !((first >= 65 && first <= 90) || (first >= 97 && first <= 122))) continue;
    const authEnd = runEnd(text, sep + 3, URL_USERINFO_STOP, Infinity, stats);
    // Both loops stay inside this authority.
    let at = authEnd - 1;
    while (at >= sep + 3 && text.charCodeAt(at) !== 64) at--;
    let colon = sep + 3;
    while (colon < at && text.charCodeAt(colon) !== 58) colon++;
    count(stats, 2 * (authEnd - sep));
    if (colon + 1 < at) emit(colon + 1, at);
    from = Math.max(from, authEnd);
  }
};

/** Calls fn for each index of `word` in lower where a regex \b precedes it, from `from` on; fn returns where to go on. */
function eachKeyword(text: string, lower: string, word: string, fn: (i: number) => number, stats?: ScanStats): void {
  let i = lower.indexOf(word);
  while (i >= 0) {
    count(stats, 1);
    const next = isWordBoundary(text, i) ? Math.max(fn(i), i + 1) : i + 1;
    i = lower.indexOf(word, next);
  }
}

/** After a key: `["']?\s*[:=]\s*["']?`; returns the value start or -1. Whitespace runs follow one key each. */
function separatorEnd(text: string, i: number, stats?: ScanStats): number {
  if (isQuote(text.charCodeAt(i))) i++;
  i = skipSpaces(text, i, stats);
  const c = text.charCodeAt(i);
  if (c !== 58 && c !== 61) return -1;
  i = skipSpaces(text, i + 1, stats);
  if (isQuote(text.charCodeAt(i))) i++;
  return i;
}

/** `((?:aws_?)?secret_?access_?key["']?\s*[:=]\s*["']?)([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])` (case-insensitive). */
export const scanAwsSecretKey: Scan = (text, lower, emit, stats) => {
  for (let i = lower.indexOf('secret'); i >= 0; i = lower.indexOf('secret', i + 1)) {
    count(stats, 1);
    let j = i + 6;
    if (lower.charCodeAt(j) === 95) j++;
    if (!lower.startsWith('access', j)) continue;
    j += 6;
    if (lower.charCodeAt(j) === 95) j++;
    if (!lower.startsWith('key', j)) continue;
    const v = separatorEnd(text, j + 3, stats);
    if (v < 0) continue;
    const r = runEnd(text, v, isBase64Code, 41, stats);
    if (r - v === 40) emit(v, r);
  }
};

const isHeaderTokenCode = (c: number) => isAlnumCode(c) || c === 46 || c === 95 || c === 126 || c === 43 || c === 47 || c === 61 || c === 45;
const AUTH_SCHEMES = ['bearer', 'basic', 'token', 'digest'];

/** `\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest)\s+([A-Za-z0-9._~+/=-]+)` (case-insensitive). */
export const scanAuthorizationHeader: Scan = (text, lower, emit, stats) => {
  eachKeyword(text, lower, 'authorization', (i) => {
    const v = separatorEnd(text, i + 13, stats);
    if (v < 0) return i + 13;
    const scheme = AUTH_SCHEMES.find((s) => lower.startsWith(s, v));
    if (!scheme) return v;
    const t = skipSpaces(text, v + scheme.length, stats);
    if (t === v + scheme.length) return t;
    const r = runEnd(text, t, isHeaderTokenCode, Infinity, stats);
    if (r > t) emit(t, r);
    return r;
  }, stats);
};

const isBearerCode = (c: number) => isAlnumCode(c) || c === 46 || c === 95 || c === 126 || c === 43 || c === 47 || c === 45;

/** `\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)` (case-insensitive). */
export const scanBearer: Scan = (text, lower, emit, stats) => {
  eachKeyword(text, lower, 'bearer', (i) => {
    const t = skipSpaces(text, i + 6, stats);
    if (t === i + 6) return t;
    const r = runEnd(text, t, isBearerCode, Infinity, stats);
    if (r - t < 16) return r;
    const e = runEnd(text, r, (c) => c === 61, Infinity, stats);
    emit(t, e);
    return e;
  }, stats);
};

const isKeyCode = (c: number) => isWordCode(c) || c === 46 || c === 45;
// [^\s"',;&}{)(\]\[<>]
const isKvValueCode = (c: number) =>
  !(isSpaceCode(c) || c === 34 || c === 39 || c === 44 || c === 59 || c === 38 || c === 125 || c === 123 || c === 41 || c === 40 || c === 93 || c === 91 || c === 60 || c === 62);

export interface KeyValueSpec {
  /** Whether a key (as written, and lower-cased) names a credential. */
  isCredentialKey: (key: string, lowerKey: string) => boolean;
  /** Literals (lower case) of which every credential key holds one: the runs around them are the candidates. */
  anchors: readonly string[];
}

/**
 * `\b(KEY)["']?\s*[:=]\s*["']?([^\s"',;&}{)(\]\[<>]+)` where KEY is a run of [A-Za-z0-9_.-] naming a
 * credential. The regex this replaces backtracked over every split of the run (4.8 s on
 * 'password.'.repeat(1000)). Here each anchor occurrence (indexOf) is widened to its run, once per run
 * and anchor (occurrences inside a run already seen are skipped), so every char is read at most twice per
 * anchor: the key can only end where the run ends (what may follow a key is outside the run) and its
 * leftmost start is the run's first word char, so one check per run decides it.
 */
export function keyValueScanner(spec: KeyValueSpec): Scan {
  return (text, lower, emit, stats) => {
    const n = text.length;
    let seen: Set<number> | undefined;
    for (const anchor of spec.anchors) {
      let from = 0;
      for (;;) {
        const at = lower.indexOf(anchor, from);
        count(stats, 1);
        if (at < 0) break;
        let rs = at;
        while (rs > from && isKeyCode(text.charCodeAt(rs - 1))) rs--;
        const re = runEnd(text, at + anchor.length, isKeyCode, Infinity, stats);
        count(stats, at - rs);
        from = re;
        if ((seen ??= new Set()).has(rs)) continue;
        seen.add(rs);
        let ks = rs;
        while (ks < re && !isWordCode(text.charCodeAt(ks))) ks++;
        if (ks === re) continue;
        const v = separatorEnd(text, re, stats);
        if (v < 0 || !spec.isCredentialKey(text.slice(ks, re), lower.slice(ks, re))) continue;
        count(stats, re - ks);
        const e = runEnd(text, v, isKvValueCode, Infinity, stats);
        // "Authorization: Bearer <token>": the scheme stays, the token is the authorization detector's.
        if (e > v && !AUTH_SCHEMES.includes(lower.slice(v, e))) emit(v, e);
        if (e > from) from = Math.min(e, n);
      }
    }
  };
}
