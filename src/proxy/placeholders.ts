// Masked values must never be written back. An agent that reads a Secret (or a ConfigMap, an env value)
// through the proxy sees placeholders; applying that manifest again would overwrite the real values with
// them. Such writes are refused with a clear Status instead, so nothing is lost.
import { MARKER_PREFIX } from '../masking/marker.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
function placeholderIn(value: string, base64Field: boolean): boolean {
  if (value.includes(MARKER_PREFIX)) return true;
  return base64Field && Buffer.from(value, 'base64').toString('latin1').includes(MARKER_PREFIX);
}

/** The field path of the first masked placeholder in an object about to be written, if any. */
export function maskedPlaceholderPath(obj: unknown, path = '', base64Field = false): string | undefined {
  if (typeof obj === 'string') return placeholderIn(obj, base64Field) ? path || '(root)' : undefined;
  if (Array.isArray(obj)) {
    for (const [i, v] of obj.entries()) {
      const p = maskedPlaceholderPath(v, `${path}[${i}]`, base64Field);
      if (p) return p;
    }
    return undefined;
  }
  if (!isObj(obj)) return undefined;
  const secret = obj.kind === 'Secret';
  for (const [k, v] of Object.entries(obj)) {
    const b64 = base64Field || (secret && k === 'data') || k === 'binaryData';
    const p = maskedPlaceholderPath(v, path ? `${path}.${k}` : k, b64);
    if (p) return p;
  }
  return undefined;
}

/**
 * A patch that writes placeholders back where the live object holds the real values (a client-side
 * `kubectl apply` of a manifest read through the proxy: its markers differ from the live ones, so kubectl
 * patches them "back"): the real values are kept. Returns the resulting object with every placeholder
 * replaced by the live value at the same path, or the path of one that has no live value to keep.
 */
export function keepLiveValues(result: Obj, live: Obj): { object: Obj; kept: number } | { unresolved: string } {
  let kept = 0;
  let unresolved: string | undefined;
  const walk = (v: unknown, old: unknown, path: string, base64Field: boolean): unknown => {
    if (unresolved) return v;
    if (typeof v === 'string') {
      if (!placeholderIn(v, base64Field)) return v;
      if (typeof old === 'string' && !placeholderIn(old, base64Field)) {
        kept++;
        return old;
      }
      unresolved = path || '(root)';
      return v;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, Array.isArray(old) ? old[i] : undefined, `${path}[${i}]`, base64Field));
    if (!isObj(v)) return v;
    const secret = v.kind === 'Secret';
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) {
      const b64 = base64Field || (secret && k === 'data') || k === 'binaryData';
      out[k] = walk(x, isObj(old) ? old[k] : undefined, path ? `${path}.${k}` : k, b64);
    }
    return out;
  };
  const object = walk(result, live, '', false) as Obj;
  return unresolved ? { unresolved } : { object, kept };
}
