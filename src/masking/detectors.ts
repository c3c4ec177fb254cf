// Secret-shape detectors: ONE list, used by the log masker (line by line) and by the JSON masker (string
// values: env values, ConfigMap values, annotations, Table cells, ...). Each detector names the part of the
// match that is secret (`group`), so "password=hunter2" becomes "password=airlock-masked:sha256:…".
import { MARKER_PREFIX, type Marker } from './marker.js';

export interface Detector {
  name: string;
  /** Global regex. */
  re: RegExp;
  /** Capture group holding the secret (0 or absent: the whole match). */
  group?: number;
  /** Cheap pre-check: the full regex only runs on text this matches (a literal every match contains). */
  hint?: RegExp;
}

// Keys whose value is a credential in key=value / key: value shapes. Names that merely refer to a secret
// (secretName, secretRef, tokenPath, passwordFile, ...) are excluded to keep YAML/JSON readable.
const credKey = String.raw`[A-Za-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?key)[A-Za-z0-9_.-]*`;
const refSuffix = /(?:name|names|ref|refs|path|file|dir|namespace|id|ids|type|kind|count|ttl|length|expiry|expiration|expires|seconds|audience|url|provider|key_id|keyid)$/i;

export const PEM_BEGIN_RE = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----/;
export const PEM_END_RE = /-----END ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----/;

export const detectors: readonly Detector[] = [
  // A whole PEM private key block inside one string (JSON values); logs handle blocks across lines too.
  { name: 'pem-private-key', hint: /PRIVATE KEY/, re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)/g },
  { name: 'jwt', hint: /eyJ/, re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g },
  { name: 'aws-access-key-id', hint: /A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA|BIA|CCA)/, re: /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}\b/g },
  { name: 'aws-secret-access-key', hint: /access_?key/i, re: /((?:aws_?)?secret_?access_?key["']?\s*[:=]\s*["']?)([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi, group: 2 },
  { name: 'gcp-api-key', hint: /AIza/, re: /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g },
  { name: 'gcp-oauth-token', hint: /ya29\./, re: /\bya29\.[0-9A-Za-z_-]{20,}/g },
  { name: 'github-token', hint: /gh[pousr]_|github_pat_/, re: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g },
  { name: 'gitlab-token', hint: /glpat-/, re: /\bglpat-[A-Za-z0-9_-]{20,}\b/g },
  { name: 'slack-token', hint: /xox[abposr]-/, re: /\bxox[abposr]-[A-Za-z0-9-]{10,}/g },
  { name: 'slack-webhook', hint: /hooks\.slack\.com/, re: /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9_/]+/g },
  { name: 'stripe-key', hint: /_(?:live|test)_/, re: /\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b/g },
  { name: 'url-password', hint: /:\/\/[^\s@]*@/, re: /(\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s:/@"'<>]+:)([^\s@/"'<>]+)(?=@)/g, group: 2 },
  { name: 'authorization-header', hint: /authorization/i, re: /(\b(?:authorization|proxy-authorization)["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest)\s+)([A-Za-z0-9._~+/=-]+)/gi, group: 2 },
  { name: 'bearer-token', hint: /bearer/i, re: /(\bbearer\s+)([A-Za-z0-9._~+/-]{16,}=*)/gi, group: 2 },
  { name: 'key-value', hint: /pass|pwd|secret|token|key|credential/i, re: new RegExp(String.raw`(\b(${credKey})["']?\s*[:=]\s*["']?)([^\s"',;&}{)(\]\[<>]+)`, 'gi'), group: 3 },
];

export type MaskKind = 'secret' | 'env' | 'configmap' | 'annotation' | 'log' | 'pattern' | 'field';

/** Counts of masked values by kind, flushed to airlock_masked_values_total by the caller. */
export type MaskCounts = Partial<Record<MaskKind, number>>;

export function bump(counts: MaskCounts, kind: MaskKind, n = 1): void {
  counts[kind] = (counts[kind] ?? 0) + n;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Applies the detectors, user patterns and exact extra values to text. Pure apart from the counts. */
export class TextMasker {
  private readonly patterns: RegExp[];
  private readonly extra: RegExp | undefined;
  readonly marker: Marker;

  constructor(marker: Marker, patterns: readonly RegExp[] = [], extraValues: readonly string[] = []) {
    this.marker = marker;
    this.patterns = patterns.map((p) => new RegExp(p.source, p.flags.includes('g') ? p.flags : p.flags + 'g'));
    // Longest first so a value that contains another is masked whole. Very short values would mask noise.
    const vals = [...new Set(extraValues.filter((v) => v.length >= 6))].sort((a, b) => b.length - a.length);
    this.extra = vals.length ? new RegExp(vals.map(escapeRegExp).join('|'), 'g') : undefined;
  }

  /** Masks secret-shaped substrings; `kind` labels the detector hits (user patterns count as "pattern"). */
  mask(text: string, kind: MaskKind, counts: MaskCounts): string {
    let out = text;
    if (this.extra) out = this.replaceAll(out, this.extra, 0, kind, counts);
    for (const d of detectors) if (!d.hint || d.hint.test(out)) out = this.replaceAll(out, d.re, d.group ?? 0, kind, counts);
    for (const p of this.patterns) out = this.replaceAll(out, p, 0, 'pattern', counts);
    return out;
  }

  private replaceAll(text: string, re: RegExp, group: number, kind: MaskKind, counts: MaskCounts): string {
    re.lastIndex = 0;
    if (!re.test(text)) return (re.lastIndex = 0), text;
    re.lastIndex = 0;
    return text.replace(re, (...args: unknown[]) => {
      const match = args[0] as string;
      if (match.length === 0) return match;
      if (group === 0) {
        if (match.startsWith(MARKER_PREFIX)) return match;
        bump(counts, kind);
        return this.marker.mark(match);
      }
      const secret = args[group] as string | undefined;
      if (!secret || secret.startsWith(MARKER_PREFIX)) return match;
      // key-value detector: skip keys that only name or reference a secret.
      if (re === keyValueRe && refSuffix.test((args[2] as string | undefined) ?? '')) return match;
      const idx = match.lastIndexOf(secret);
      bump(counts, kind);
      return match.slice(0, idx) + this.marker.mark(secret) + match.slice(idx + secret.length);
    });
  }
}

const keyValueRe = detectors.find((d) => d.name === 'key-value')!.re;
