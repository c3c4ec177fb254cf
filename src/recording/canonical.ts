// Canonical JSON (object keys sorted, no whitespace, undefined members dropped) and the hash of format 1
// record lines (written before format 2, record-line.ts; still verified).
import { createHash } from 'node:crypto';
import type { RequestRecord } from './types.js';

export const ZERO_HASH = '0'.repeat(64);

export function canonicalJson(value: unknown): string {
  // Written out with string appends rather than map/join: records are serialised on every request.
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return JSON.stringify(value) ?? 'null';
  }
  if (value === null) return 'null';
  if (JSON.isRawJSON(value)) return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      out += (i ? ',' : '') + (v === undefined || typeof v === 'function' ? 'null' : canonicalJson(v));
    }
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((obj as { toJSON: () => unknown }).toJSON());
  const keys = Object.keys(obj);
  if (keys.length > 1) keys.sort();
  let out = '{';
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined || typeof v === 'function') continue;
    out += (out.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + canonicalJson(v);
  }
  return out + '}';
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 over the canonical JSON of the record without its `hash` member. */
export function recordHash(rec: RequestRecord | Record<string, unknown>): string {
  const { hash: _omit, ...rest } = rec as Record<string, unknown>;
  return sha256Hex(canonicalJson(rest));
}
