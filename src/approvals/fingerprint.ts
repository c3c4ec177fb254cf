// Request fingerprints: the identity of "this exact change by this identity". A retried identical request
// (same user, verb, resource, options and normalised object) has the same fingerprint, so it finds its
// Approval; a request that would do anything else (other selector, propagation, dry run, set of deleted
// objects, ...) does not.
import { createHash } from 'node:crypto';
import type { RequestAttributes } from '../policy/types.js';
import { collectionSet, effectOptions } from './effect.js';

/** Annotations that tools or Airlock itself add and that must not change a request's identity. */
const VOLATILE_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration', 'deployment.kubernetes.io/revision']);
const VOLATILE_METADATA = ['resourceVersion', 'uid', 'generation', 'creationTimestamp', 'managedFields', 'selfLink'];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const CONTROLLER_UID_LABELS = ['controller-uid', 'batch.kubernetes.io/controller-uid'];

/**
 * Fields the API server allocates afresh on every attempt before admission (a retried create would
 * otherwise never match): Service cluster IPs and node ports, Job controller-uid selectors.
 */
function dropAllocated(obj: Record<string, unknown>): void {
  const spec = obj.spec;
  if (!isPlainObject(spec)) return;
  if (obj.kind === 'Service') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
    delete spec.healthCheckNodePort;
    if (Array.isArray(spec.ports)) for (const p of spec.ports) if (isPlainObject(p)) delete p.nodePort;
  }
  if (obj.kind === 'Job') {
    const sel = isPlainObject(spec.selector) ? spec.selector.matchLabels : undefined;
    const tpl = isPlainObject(spec.template) && isPlainObject(spec.template.metadata) ? spec.template.metadata.labels : undefined;
    for (const labels of [sel, tpl]) if (isPlainObject(labels)) for (const k of CONTROLLER_UID_LABELS) delete labels[k];
    if (isPlainObject(spec.selector) && isPlainObject(spec.selector.matchLabels) && !Object.keys(spec.selector.matchLabels).length) delete spec.selector;
  }
}

/**
 * Drops server-assigned and volatile fields (metadata.resourceVersion, uid, generation, creationTimestamp,
 * managedFields, selfLink, status, airlock.dev/* annotations, kubectl's last-applied-configuration) and
 * values the API server allocates per attempt (see dropAllocated).
 * Returns a deep copy; the input is not modified.
 */
export function normaliseObject(obj: Record<string, unknown> | undefined | null): Record<string, unknown> | undefined {
  if (!isPlainObject(obj)) return undefined;
  const copy = structuredClone(obj);
  delete copy.status;
  dropAllocated(copy);
  const meta = copy.metadata;
  if (isPlainObject(meta)) {
    for (const k of VOLATILE_METADATA) delete meta[k];
    if (isPlainObject(meta.annotations)) {
      const ann = meta.annotations;
      for (const k of Object.keys(ann)) {
        if (VOLATILE_ANNOTATIONS.has(k) || k.startsWith('airlock.dev/') || k.includes('.airlock.dev/')) delete ann[k];
      }
      if (Object.keys(ann).length === 0) delete meta.annotations;
    }
  }
  return copy;
}

/** JSON with object keys sorted at every level (arrays keep their order): a canonical encoding. */
export function canonicalJson(v: unknown): string {
  if (v === undefined) return 'null';
  if (Array.isArray(v)) return '[' + v.map((x) => canonicalJson(x)).join(',') + ']';
  if (isPlainObject(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(v[k])).join(',') + '}';
  }
  return JSON.stringify(v) ?? 'null';
}

/** The object a request is judged on: the new object, or the old one for deletes. */
export function subjectObject(req: Pick<RequestAttributes, 'object' | 'oldObject' | 'verb'>): Record<string, unknown> | undefined {
  if (req.object && isPlainObject(req.object)) return req.object;
  if (req.verb === 'delete' || req.verb === 'deletecollection') return req.oldObject ?? undefined;
  return undefined;
}

/** The uid of the live object a change or delete addresses (absent for creates). */
function liveUid(req: Pick<RequestAttributes, 'oldObject'>): string | undefined {
  const meta = isPlainObject(req.oldObject) ? req.oldObject.metadata : undefined;
  return isPlainObject(meta) && typeof meta.uid === 'string' && meta.uid ? meta.uid : undefined;
}

/**
 * sha256 (hex) over user + verb + group/version/resource/subresource + namespace + name + normalised object
 * + effect-changing options + dry run + (deletecollection) the sorted set of objects it deletes + the
 * uid of the live object it changes (for an exec: of the pod, and the target container's image).
 * Parts a request does not have are left out, so requests without options keep their earlier fingerprints.
 */
export function fingerprint(req: RequestAttributes): string {
  const options = effectOptions(req.options);
  const body = canonicalJson({
    user: req.user.username,
    verb: req.verb,
    group: req.apiGroup,
    version: req.apiVersion,
    resource: req.resource,
    subresource: req.subresource ?? '',
    namespace: req.namespace ?? '',
    name: req.name ?? '',
    object: normaliseObject(subjectObject(req)) ?? null,
    options: Object.keys(options).length ? options : undefined,
    dryRun: req.dryRun ? true : undefined,
    // Unlisted (null) differs from listed-and-empty ([]): each matches only its own kind of retry.
    collection: req.verb === 'deletecollection' ? (collectionSet(req.collectionItems) ?? null) : undefined,
    // The very object that was approved: one deleted and recreated under the same name is another object
    // (for an exec, the pod it runs in).
    target: liveUid(req) ?? req.exec?.target?.podUID,
    // A pod's image can change in place: an exec approved in one image does not run in another.
    image: req.exec?.target?.image,
  });
  return createHash('sha256').update(body).digest('hex');
}
