// Secret-shape detectors: ONE list, used by the log masker (line by line) and by the JSON masker (string
// values: env values, ConfigMap values, annotations, Table cells, ...). Each detector reports the secret
// part of a match, so "password=hunter2" becomes "password=airlock-masked:sha256:…". Every detector is a
// hand-written linear scanner (scanners.ts): no input makes one read a character more than a constant
// number of times, so a hostile object cannot stall the event loop.
import type { ScanStats } from './aho-corasick.js';
import { isAlnumCode, isTokenCode, isUpperAlnumCode, isWordCode, lowerSameLength } from './char-class.js';
import { KV_HINTS, kvKeyIsCredential } from './credential-names.js';
import { MARKER_PREFIX, mapOutsideMarkers, type Marker } from './marker.js';
import {
  keyValueScanner, prefixedToken, scanAuthorizationHeader, scanAwsSecretKey, scanBearer, scanJwt, scanPem, scanUrlPassword, type Scan,
} from './scanners.js';
import { ValueScrubber } from './value-scrubber.js';

export interface Detector {
  name: string;
  /** Reports [start, end) of every secret in text (lower: text lower-cased, same length). Linear time. */
  scan: Scan;
}

const isSlackCode = (c: number) => isAlnumCode(c) || c === 45;
const githubClassic = prefixedToken({ prefixes: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'], boundaryBefore: true, body: isAlnumCode, min: 36, max: 255, end: 'boundary', hint: /gh[pousr]_/ });
const githubFineGrained = prefixedToken({ prefixes: ['github_pat_'], boundaryBefore: true, body: isWordCode, min: 22, max: 255, end: 'boundary', hint: 'github_pat_' });
const isWebhookCode = (c: number) => isWordCode(c) || c === 47;

export const detectors: readonly Detector[] = [
  // A whole PEM private key block inside one string (JSON values); logs handle blocks across lines too.
  { name: 'pem-private-key', scan: scanPem },
  { name: 'jwt', scan: scanJwt },
  // \b(?:AKIA|ASIA|…)[A-Z0-9]{16}\b
  { name: 'aws-access-key-id', scan: prefixedToken({ prefixes: ['AKIA', 'ASIA', 'AGPA', 'AIDA', 'AROA', 'ANPA', 'ANVA', 'AIPA', 'ABIA', 'ACCA'], boundaryBefore: true, body: isUpperAlnumCode, min: 16, max: 16, end: 'boundary', hint: /A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA|BIA|CCA)/ }) },
  { name: 'aws-secret-access-key', scan: scanAwsSecretKey },
  // \bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])
  { name: 'gcp-api-key', scan: prefixedToken({ prefixes: ['AIza'], boundaryBefore: true, body: isTokenCode, min: 35, max: 35, end: 'not-body' }) },
  // \bya29\.[0-9A-Za-z_-]{20,}
  { name: 'gcp-oauth-token', scan: prefixedToken({ prefixes: ['ya29.'], boundaryBefore: true, body: isTokenCode, min: 20, end: 'none' }) },
  // \b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b
  { name: 'github-token', scan: (t, l, e, s) => {
    githubClassic(t, l, e, s);
    githubFineGrained(t, l, e, s);
  } },
  // \bglpat-[A-Za-z0-9_-]{20,}\b
  { name: 'gitlab-token', scan: prefixedToken({ prefixes: ['glpat-'], boundaryBefore: true, body: isTokenCode, min: 20, end: 'boundary' }) },
  // \bxox[abposr]-[A-Za-z0-9-]{10,}
  { name: 'slack-token', scan: prefixedToken({ prefixes: ['xoxa-', 'xoxb-', 'xoxp-', 'xoxo-', 'xoxs-', 'xoxr-'], boundaryBefore: true, body: isSlackCode, min: 10, end: 'none', hint: 'xox' }) },
  // https://hooks\.slack\.com/services/[A-Za-z0-9_/]+
  { name: 'slack-webhook', scan: prefixedToken({ prefixes: ['https://hooks.slack.com/services/'], boundaryBefore: false, body: isWebhookCode, min: 1, end: 'none' }) },
  // \b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b
  { name: 'stripe-key', scan: prefixedToken({ prefixes: ['sk_live_', 'sk_test_', 'rk_live_', 'rk_test_', 'pk_live_', 'pk_test_'], boundaryBefore: true, body: isAlnumCode, min: 16, end: 'boundary', hint: /_(?:live|test)_/ }) },
  { name: 'url-password', scan: scanUrlPassword },
  { name: 'authorization-header', scan: scanAuthorizationHeader },
  { name: 'bearer-token', scan: scanBearer },
  {
    name: 'key-value',
    scan: keyValueScanner({ isCredentialKey: kvKeyIsCredential, anchors: KV_HINTS }),
  },
];

export type MaskKind = 'secret' | 'env' | 'configmap' | 'annotation' | 'log' | 'pattern' | 'field';

/** Counts of masked values by kind, flushed to airlock_masked_values_total by the caller. */
export type MaskCounts = Partial<Record<MaskKind, number>>;

export function bump(counts: MaskCounts, kind: MaskKind, n = 1): void {
  counts[kind] = (counts[kind] ?? 0) + n;
}

/** Secret regions reported by every detector, merged where they overlap, in order. */
export function detectRegions(text: string, stats?: ScanStats): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  const lower = lowerSameLength(text);
  for (const d of detectors) d.scan(text, lower, (s, e) => { if (e > s) spans.push([s, e]); }, stats);
  if (spans.length === 0) return spans;
  if (stats) stats.ops += spans.length;
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const merged: Array<[number, number]> = [spans[0]!];
  for (let i = 1; i < spans.length; i++) {
    const last = merged[merged.length - 1]!;
    const [s, e] = spans[i]!;
    if (s < last[1]) last[1] = Math.max(last[1], e);
    else merged.push([s, e]);
  }
  return merged;
}

export interface TextMaskerOptions {
  /** Scrubbers for known values (per response, per unit), applied before the detectors. */
  scrubbers?: readonly ValueScrubber[];
  /** Receives every secret the detectors and patterns found (the unit masker scrubs them elsewhere). */
  found?: Set<string>;
  /** Work counter for tests. */
  stats?: ScanStats;
}

/** Applies known values, the detectors and user patterns to text. Pure apart from the counts and `found`. */
export class TextMasker {
  private readonly patterns: RegExp[];
  private readonly scrubbers: readonly ValueScrubber[];
  private readonly found: Set<string> | undefined;
  private readonly stats: ScanStats | undefined;
  readonly marker: Marker;

  constructor(marker: Marker, patterns: readonly RegExp[] = [], extraValues: readonly string[] = [], opts: TextMaskerOptions = {}) {
    this.marker = marker;
    this.patterns = patterns.map((p) => new RegExp(p.source, p.flags.includes('g') ? p.flags : p.flags + 'g'));
    const extra = ValueScrubber.of(extraValues);
    this.scrubbers = [...(opts.scrubbers ?? []), ...(extra ? [extra] : [])];
    this.found = opts.found;
    this.stats = opts.stats;
  }

  /** The same masker with one more scrubber (a unit's own values), recording detector finds in `found`. */
  withValues(scrubber: ValueScrubber | undefined, found?: Set<string>): TextMasker {
    return new TextMasker(this.marker, this.patterns, [], { scrubbers: scrubber ? [...this.scrubbers, scrubber] : this.scrubbers, found, stats: this.stats });
  }

  /** The same masker drawing its markers from another marker (a document's own, see DocumentMarker). */
  withMarker(marker: Marker): TextMasker {
    return new TextMasker(marker, this.patterns, [], { scrubbers: this.scrubbers, found: this.found, stats: this.stats });
  }

  /** Whether text holds a known value in any of its spellings. */
  containsKnown(text: string): boolean {
    return this.scrubbers.some((s) => s.contains(text, this.stats));
  }

  /** Masks known values and secret-shaped substrings; `kind` labels the hits (user patterns count as "pattern"). */
  mask(text: string, kind: MaskKind, counts: MaskCounts): string {
    let out = text;
    for (const s of this.scrubbers) out = s.replace(out, (v) => this.marker.mark(v), () => bump(counts, kind), this.stats);
    out = mapOutsideMarkers(out, (seg) => this.maskShapes(seg, kind, counts));
    for (const p of this.patterns) out = this.replacePattern(out, p, counts);
    return out;
  }

  private maskShapes(seg: string, kind: MaskKind, counts: MaskCounts): string {
    const regions = detectRegions(seg, this.stats);
    if (regions.length === 0) return seg;
    let out = '';
    let at = 0;
    for (const [s, e] of regions) {
      const secret = seg.slice(s, e);
      this.found?.add(secret);
      bump(counts, kind);
      out += seg.slice(at, s) + this.marker.mark(secret);
      at = e;
    }
    return out + seg.slice(at);
  }

  // User patterns come from the policy (its author's regexes); they run as written.
  private replacePattern(text: string, re: RegExp, counts: MaskCounts): string {
    re.lastIndex = 0;
    if (!re.test(text)) return (re.lastIndex = 0), text;
    re.lastIndex = 0;
    return text.replace(re, (match: string) => {
      if (match.length === 0 || match.startsWith(MARKER_PREFIX)) return match;
      this.found?.add(match);
      bump(counts, 'pattern');
      return this.marker.mark(match);
    });
  }
}

