// Masked values keep their shape: a fixed marker plus a short keyed hash of the original value, so equal
// values map to equal markers (an agent can still tell "these two secrets are the same") without the value
// being guessable (HMAC with a per-process or per-installation key, never a bare hash).
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

export const MARKER_PREFIX = 'airlock-masked:sha256:';
/** Hex digits of the HMAC kept in a marker. */
export const MARKER_HASH_LENGTH = 8;
const MARKER_RE = /^airlock-masked:sha256:[0-9a-f]{8}$/;

/** Reads AIRLOCK_MASKING_KEY (hex or base64, >= 16 bytes) or falls back to a random per-process key. */
export function maskingKeyFromEnv(env: NodeJS.ProcessEnv = process.env): Buffer {
  const raw = env.AIRLOCK_MASKING_KEY;
  if (raw) {
    const key = /^[0-9a-fA-F]+$/.test(raw) && raw.length % 2 === 0 ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
    if (key.length < 16) throw new Error('AIRLOCK_MASKING_KEY must hold at least 16 bytes (hex or base64)');
    return key;
  }
  return randomBytes(32);
}

/**
 * stable: equal values give equal markers (for readers who may compare, such as approvers looking at a
 * diff). unlinkable: every marker is salted afresh, so markers say nothing about the value. Agents get
 * unlinkable markers: an agent can have any value of its choosing masked (write it, read it back, or a
 * dry run), so a stable marker would let it test guesses against a hidden value's marker.
 */
export type MarkerMode = 'stable' | 'unlinkable';

export class Marker {
  // A KeyObject, created once: passing a raw Buffer to createHmac re-imports the key on every call.
  protected readonly key: KeyObject;
  readonly mode: MarkerMode;
  constructor(key: Buffer | KeyObject, mode: MarkerMode = 'stable') {
    if (Buffer.isBuffer(key) && key.length < 16) throw new Error('masking key must hold at least 16 bytes');
    this.key = Buffer.isBuffer(key) ? createSecretKey(Buffer.from(key)) : key;
    this.mode = mode;
  }

  /** Markers for one stored document (see DocumentMarker), under this marker's key. */
  forDocument(context: string): DocumentMarker {
    return new DocumentMarker(this.key, context);
  }

  /** The marker for a value (string or raw bytes). */
  mark(value: string | Buffer): string {
    // Unlinkable: fresh random digits, nothing derived from the value (an HMAC over a random nonce would
    // be just as random, and costs a hash per value).
    if (this.mode === 'unlinkable') return MARKER_PREFIX + this.randomHex(MARKER_HASH_LENGTH);
    const h = createHmac('sha256', this.key).update(value).digest('hex');
    return MARKER_PREFIX + h.slice(0, MARKER_HASH_LENGTH);
  }

  /** Random bytes drawn from a pool filled in large blocks: one CSPRNG call per 4 KiB instead of per marker. */
  private pool = Buffer.alloc(0);
  private used = 0;
  private randomHex(chars: number): string {
    const bytes = Math.ceil(chars / 2);
    if (this.used + bytes > this.pool.length) {
      this.pool = randomBytes(4096);
      this.used = 0;
    }
    const hex = this.pool.toString('hex', this.used, this.used + bytes);
    this.used += bytes;
    return hex.slice(0, chars);
  }

  /** The marker for a value, base64-encoded (for base64 fields such as Secret data). */
  markBase64(decoded: Buffer): string {
    return Buffer.from(this.mark(decoded), 'utf8').toString('base64');
  }
}

/** Whether a string is exactly a marker (already masked). */
export function isMarker(s: string): boolean {
  return MARKER_RE.test(s);
}

/** Offsets [start, end) of the markers in text (found with indexOf: linear). */
export function markerSpans(text: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  for (let i = text.indexOf(MARKER_PREFIX); i >= 0; i = text.indexOf(MARKER_PREFIX, i + 1)) {
    const end = i + MARKER_PREFIX.length + MARKER_HASH_LENGTH;
    if (end <= text.length && isHex(text, i + MARKER_PREFIX.length, end)) {
      spans.push([i, end]);
      i = end - 1;
    }
  }
  return spans;
}

function isHex(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Rewrites the parts of text outside markers (markers are never masked again). */
export function mapOutsideMarkers(text: string, fn: (segment: string) => string): string {
  if (!text.includes(MARKER_PREFIX)) return fn(text);
  const spans = markerSpans(text);
  if (spans.length === 0) return fn(text);
  let out = '';
  let at = 0;
  for (const [s, e] of spans) {
    out += (s > at ? fn(text.slice(at, s)) : '') + text.slice(s, e);
    at = e;
  }
  return out + (at < text.length ? fn(text.slice(at)) : '');
}

/**
 * Markers for the masked view of one stored document (a Helm release record), which the proxy must be
 * able to map back when the agent writes the document again: the n-th marking of a value in the view is
 * HMAC(key, context, n, value), where the context is a digest of the whole stored document. The same
 * stored document always gives the same view; every marking gets its own marker, so markers never tell
 * two values (or two places of one value) apart from each other, and a document holding a guess has
 * another digest, so no guess can be marked under the stored document's context. `issued` maps each
 * marker handed out back to its value.
 */
export class DocumentMarker extends Marker {
  readonly issued = new Map<string, Buffer>();
  private readonly context: string;
  private readonly markings = new Map<string, number>();
  constructor(key: KeyObject, context: string) {
    super(key, 'stable');
    this.context = context;
  }

  override mark(value: string | Buffer): string {
    const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
    const id = bytes.toString('latin1');
    const n = this.markings.get(id) ?? 0;
    this.markings.set(id, n + 1);
    const m = this.markerFor(bytes, n);
    this.issued.set(m, bytes);
    return m;
  }

  /** The marker of the n-th marking of a value. */
  markerFor(value: Buffer, n: number): string {
    const h = createHmac('sha256', this.key).update(this.context).update('\0').update(String(n)).update('\0').update(value).digest('hex');
    return MARKER_PREFIX + h.slice(0, MARKER_HASH_LENGTH);
  }
}
