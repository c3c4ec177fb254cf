// Writes that would move a protected value where masking does not look, or probe for it, are refused
// before they are judged:
//  - a Secret whose resulting object carries one of its own values outside data/stringData (a JSON patch
//    `copy`/`move` into an annotation, a label or `type`: stored, then shown to every reader);
//  - JSON patch `test` operations on values masking hides (a yes/no oracle for guessing a secret).
import { MARKER_PREFIX } from '../masking/marker.js';
import { isObj } from './context.js';
import { maskedPlaceholderPath } from './placeholders.js';
import { kubeStatus, type KubeStatus } from './status.js';

type Obj = Record<string, unknown>;

/** Shorter values are too likely to occur by chance in annotations or labels. */
const MIN_COPIED_VALUE = 4;

function secretValues(secret: Obj): string[] {
  const out: string[] = [];
  if (isObj(secret.data)) for (const v of Object.values(secret.data)) if (typeof v === 'string') out.push(Buffer.from(v, 'base64').toString('utf8'), v);
  if (isObj(secret.stringData)) for (const v of Object.values(secret.stringData)) if (typeof v === 'string') out.push(v, Buffer.from(v).toString('base64'));
  return out.filter((v) => v.length >= MIN_COPIED_VALUE);
}

/** The field path (outside data/stringData) of the first string that holds one of the Secret's values. */
export function secretValueOutsideData(secret: Obj): string | undefined {
  const values = secretValues(secret);
  if (!values.length) return undefined;
  const walk = (v: unknown, path: string): string | undefined => {
    if (typeof v === 'string') return values.some((s) => v.includes(s)) ? path || '(root)' : undefined;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const hit = walk(v[i], `${path}[${i}]`);
        if (hit) return hit;
      }
      return undefined;
    }
    if (!isObj(v)) return undefined;
    for (const [k, x] of Object.entries(v)) {
      const hit = walk(x, path ? `${path}.${k}` : k);
      if (hit) return hit;
    }
    return undefined;
  };
  const { data: _d, stringData: _s, ...rest } = secret;
  // kubectl's client-side apply keeps the applied manifest, data included, in an annotation: that manifest
  // is judged like the Secret itself (masking shows it as one).
  const annotations = isObj(rest.metadata) && isObj(rest.metadata.annotations) ? rest.metadata.annotations : undefined;
  const applied = annotations?.[LAST_APPLIED];
  if (annotations && typeof applied === 'string') {
    let manifest: unknown;
    try {
      manifest = JSON.parse(applied);
    } catch { /* not a manifest: checked as a plain string */ }
    if (isObj(manifest)) {
      const { [LAST_APPLIED]: _a, ...others } = annotations;
      const inner = secretValueOutsideData({ ...manifest, data: secret.data, stringData: secret.stringData });
      if (inner) return `metadata.annotations[${LAST_APPLIED}].${inner}`;
      return walk({ ...rest, metadata: { ...(rest.metadata as Obj), annotations: others } }, '');
    }
  }
  return walk(rest, '');
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** A JSON patch path is a value masking hides: Secret/ConfigMap data, env values anywhere. */
function guardedPatchPath(resource: string, path: string): boolean {
  if (resource === 'secrets' || resource === 'configmaps') return path === '' || path === '/' || /^\/(data|stringData|binaryData)(\/|$)/u.test(path);
  return /\/env\/[^/]+\/value$/u.test(path) || /\/env(\/[^/]+)?$/u.test(path);
}

/** The first JSON patch `test` op on a guarded value, if any. */
export function oracleTest(resource: string, ops: unknown): string | undefined {
  if (!Array.isArray(ops)) return undefined;
  for (const op of ops) {
    if (isObj(op) && op.op === 'test' && typeof op.path === 'string' && guardedPatchPath(resource, op.path)) return op.path;
  }
  return undefined;
}

/** Checks the resulting object of a write; a Status when it must be refused. */
export function refuseUnsafeWrite(resource: string, kind: string | undefined, body: unknown, object: Obj | undefined): KubeStatus | undefined {
  if (kind === 'json-patch') {
    const path = oracleTest(resource, body);
    if (path) return kubeStatus(403, `airlock: JSON patch "test" operations on ${path} are refused: they would reveal a masked value`, 'Forbidden');
  }
  if (!object) return undefined;
  const placeholder = maskedPlaceholderPath(object);
  if (placeholder) {
    return kubeStatus(422, `airlock: ${placeholder} holds a masked placeholder (${MARKER_PREFIX}…), not a real value: writing it back would destroy the real one; send the real value or leave the field out`, 'Invalid');
  }
  if (object.kind === 'Secret' || resource === 'secrets') {
    const copied = secretValueOutsideData(object);
    if (copied) return kubeStatus(403, `airlock: ${copied} would hold a value of this Secret's data outside data/stringData, where it is not masked; refused`, 'Forbidden');
  }
  return undefined;
}
