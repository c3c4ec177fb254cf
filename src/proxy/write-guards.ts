// Writes that would move a hidden value where masking does not look, probe for it, or rewrite who made an
// object are refused before they are judged:
//  - a value the live object protects (a Secret's data, a credential env value or ConfigMap key, a
//    credential field of any object) that the resulting object would carry where key names and value
//    shapes do not hide it (a JSON patch `move`/`copy` into a label, an annotation, a harmless key): stored,
//    it would be shown to every later reader;
//  - a Secret carrying one of its own values outside data/stringData;
//  - JSON patch `test` operations on anything that holds a hidden value (a yes/no oracle for guessing;
//    checked by the subject stage before the dry run, whose own answer would already tell);
//  - a change to the creator annotation (provenance decides which deletes an agent may make alone);
//  - masked placeholders written back over real values.
import type { MaskerFactory, MaskTarget } from '../masking/types.js';
import type { ResolvedMasking } from '../policy/types.js';
import { MARKER_PREFIX } from '../masking/marker.js';
import { ValueScrubber } from '../masking/index.js';
import { isObj } from './context.js';
import { maskedPlaceholderPath } from './placeholders.js';
import { AGENT_ANNOTATION, creatorOf } from './provenance.js';
import { kubeStatus, type KubeStatus } from './status.js';

type Obj = Record<string, unknown>;

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** Shorter values are too likely to occur by chance in annotations or labels. */
const MIN_COPIED_VALUE = 4;

export interface WriteCheck {
  resource: string;
  /** The object the write would store (create body or dry-run result). */
  object?: Obj;
  /** The live object before the write. */
  oldObject?: Obj;
  /** Values the live object protects (what masking hides from the agent). */
  hidden: readonly string[];
}

/** How the guard asks masking whether a value would be readable. */
export interface Revealer {
  masker?: Pick<MaskerFactory, 'reveals'>;
  target: Omit<MaskTarget, 'contentType'>;
  rules: ResolvedMasking;
}

function secretValues(secret: Obj): string[] {
  const out: string[] = [];
  if (isObj(secret.data)) for (const v of Object.values(secret.data)) if (typeof v === 'string') out.push(Buffer.from(v, 'base64').toString('utf8'), v);
  if (isObj(secret.stringData)) for (const v of Object.values(secret.stringData)) if (typeof v === 'string') out.push(v, Buffer.from(v).toString('base64'));
  return out.filter((v) => v.length >= MIN_COPIED_VALUE);
}

/** The field path of the first string that holds one of `values`. */
function pathHolding(v: unknown, values: readonly string[], path: string): string | undefined {
  if (typeof v === 'string') return values.some((s) => v.includes(s)) ? path || '(root)' : undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const hit = pathHolding(v[i], values, `${path}[${i}]`);
      if (hit) return hit;
    }
    return undefined;
  }
  if (!isObj(v)) return undefined;
  for (const [k, x] of Object.entries(v)) {
    const hit = pathHolding(x, values, path ? `${path}.${k}` : k);
    if (hit) return hit;
  }
  return undefined;
}

/** The field path (outside data/stringData) of the first string that holds one of the Secret's values. */
export function secretValueOutsideData(secret: Obj, extra: readonly string[] = []): string | undefined {
  const values = [...secretValues(secret), ...extra.filter((v) => v.length >= MIN_COPIED_VALUE)];
  if (!values.length) return undefined;
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
      const { data: _md, stringData: _ms, ...manifestRest } = manifest;
      const inner = pathHolding(manifestRest, values, '');
      if (inner) return `metadata.annotations[${LAST_APPLIED}].${inner}`;
      return pathHolding({ ...rest, metadata: { ...(rest.metadata as Obj), annotations: others } }, values, '');
    }
  }
  return pathHolding(rest, values, '');
}

/** The value a JSON pointer addresses in an object (undefined when it addresses nothing). */
function atPointer(obj: unknown, pointer: string): unknown {
  if (pointer === '') return obj;
  let cur: unknown = obj;
  for (const raw of pointer.split('/').slice(1)) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) cur = cur[Number(token)];
    else if (isObj(cur)) cur = cur[token];
    else return undefined;
  }
  return cur;
}

/** The first JSON patch `test` op on something that holds a hidden value (or on data of Secrets and ConfigMaps). */
export function oracleTest(resource: string, ops: unknown, old: Obj | undefined, hidden: readonly string[]): string | undefined {
  if (!Array.isArray(ops)) return undefined;
  // Hidden values in any spelling (base64 in a last-applied manifest, JSON-escaped in a nested document).
  const scrubber = ValueScrubber.of(hidden);
  for (const op of ops) {
    if (!isObj(op) || op.op !== 'test' || typeof op.path !== 'string') continue;
    const where = op.path || '(the whole object)';
    if ((resource === 'secrets' || resource === 'configmaps') && (op.path === '' || /^\/(data|stringData|binaryData)(\/|$)/u.test(op.path))) return where;
    if (/\/env(\/|$)/u.test(op.path)) return where;
    const tested = atPointer(old, op.path);
    if (tested !== undefined && scrubber?.contains(JSON.stringify(tested))) return where;
  }
  return undefined;
}

/** Checks a write; a Status when it must be refused. */
export function refuseUnsafeWrite(w: WriteCheck, reveal: Revealer): KubeStatus | undefined {
  const object = w.object;
  if (!object) return undefined;
  const placeholder = maskedPlaceholderPath(object);
  if (placeholder) {
    return kubeStatus(422, `airlock: ${placeholder} holds a masked placeholder (${MARKER_PREFIX}…), not a real value: writing it back would destroy the real one; send the real value or leave the field out`, 'Invalid');
  }
  if (w.oldObject && creatorOf(object) !== creatorOf(w.oldObject)) {
    return kubeStatus(403, `airlock: metadata.annotations["${AGENT_ANNOTATION}"] records who created the object; it is set by Airlock on create and cannot be changed`, 'Forbidden');
  }
  if (object.kind === 'Secret' || w.resource === 'secrets') {
    const copied = secretValueOutsideData(object, w.oldObject ? secretValues(w.oldObject) : []);
    if (copied) return kubeStatus(403, `airlock: ${copied} would hold a value of this Secret's data outside data/stringData, where it is not masked; refused`, 'Forbidden');
  }
  if (w.oldObject && w.hidden.length && reveal.masker?.reveals?.(object, w.hidden, reveal.target, reveal.rules)) {
    const at = pathHolding(object, w.hidden, '');
    return kubeStatus(403, `airlock: this write would move a masked value${at ? ` (now at ${at})` : ''} to a field where it is not masked; refused`, 'Forbidden');
  }
  return undefined;
}
