// The subject stage: what the request would act on, and the object that would result. Writes are
// resolved through side-effect-free probes (dryrun.ts); their failures come back as ProbeFailure for the
// response gate. Also collects the values the touched objects protect, so the gate can scrub them from
// anything the agent receives about this request (errors echo values).
import { protectedValuesOf, type MaskerFactory } from '../masking/index.js';
import { restoreReleaseBody, writesSecret } from './helm-release-writes.js';
import type { ParsedBody } from './body.js';
import { isObj, STRICTEST_MASKING } from './context.js';
import { collectionItems, dryRunObject, liveObject, probeFailed, resourceVersionOf, type Obj, type ProbeContext, type ProbeFailure } from './dryrun.js';
import { keepLiveValues } from './placeholders.js';
import { protobufObjectMeta, stampProtobuf } from './protobuf-meta.js';
import { AGENT_ANNOTATION, creatorOf, withProvenance, stampable as canStamp } from './provenance.js';
import type { RequestInfo } from './request-info.js';
import { collectionListQuery, type EffectiveOptions } from './request-options.js';
import { kubeStatus, type KubeStatus } from './status.js';
import { UPGRADE_SUBRESOURCES } from './subresources.js';
import { oracleTest } from './write-guards.js';

export interface Subject {
  /** What will be forwarded (the agent's body, converted and stamped with provenance). */
  body: unknown;
  kind?: ParsedBody['kind'];
  contentType?: string;
  /** The object after the request (create body, or the dry-run result of PATCH/PUT). */
  object?: Obj;
  /** The live object before the request. */
  oldObject?: Obj;
  /** What a deletecollection would remove. */
  items?: Obj[];
  /** The method to forward with, when it is not the agent's (a patch that kept live values becomes a PUT). */
  method?: string;
  /** The proxy pinned the live resourceVersion: a 409 means "changed since judged", judge again. */
  pinned: boolean;
  /** Values the touched objects protect (scrubbed from every answer about this request). */
  knownValues: string[];
  /** Of those, the values the live object protects (a write must not move them out of masking's sight). */
  liveValues?: string[];
}

export type SubjectResult = { subject: Subject } | { refuse: KubeStatus; knownValues: string[] } | (ProbeFailure & { knownValues: string[] });

/** Whether the agent's own body already pins a resourceVersion (then a conflict is the agent's to handle). */
function carriesResourceVersion(kind: ParsedBody['kind'] | undefined, body: unknown): boolean {
  if (kind === 'json-patch') return Array.isArray(body) && body.some((op) => isObj(op) && op.path === '/metadata/resourceVersion');
  return isObj(body) && isObj(body.metadata) && (body.metadata as Obj).resourceVersion !== undefined && (body.metadata as Obj).resourceVersion !== '';
}

/**
 * Provenance on an update: the session is stamped, but who created the object stays what it was (an
 * agent that could claim creation by editing an object could then delete others' objects as its own).
 * A change of the creator annotation the body makes anyway is refused by the write guards.
 */
function updateProvenance(provenance: Record<string, string>, live: Obj | undefined): Record<string, string> {
  if (!live) return provenance; // an apply that creates the object: the agent is its creator
  const { [AGENT_ANNOTATION]: _agent, ...rest } = provenance;
  const creator = creatorOf(live);
  return creator ? { ...rest, [AGENT_ANNOTATION]: creator } : rest;
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}

function valuesOf(...objs: (Obj | Obj[] | undefined)[]): string[] {
  const out = new Set<string>();
  for (const o of objs.flat()) if (o) for (const v of protectedValuesOf(o, STRICTEST_MASKING)) out.add(v);
  return [...out];
}

export async function resolveSubject(
  probe: ProbeContext,
  info: RequestInfo,
  method: string,
  body: ParsedBody | undefined,
  effective: EffectiveOptions,
  provenance: Record<string, string>,
  masker?: MaskerFactory,
): Promise<SubjectResult> {
  let { value, kind, contentType } = body ?? { value: undefined, kind: undefined, contentType: undefined };
  if (writesSecret(info, method)) {
    // Helm writes back release records it read masked: their markers are mapped back to the values first.
    const restored = await restoreReleaseBody(probe, info, value, masker);
    if ('refuse' in restored || 'failed' in restored) return { ...restored, knownValues: [] };
    value = restored.body;
  }
  const stampable = info.isResourceRequest && canStamp(info.apiGroup, info.subresource) && (method === 'POST' || method === 'PUT' || method === 'PATCH') && kind !== undefined;
  let oldObject: Obj | undefined;
  const known = (): string[] => valuesOf(oldObject);
  // Proxies and streams carry no object to probe for: their bodies go to a pod or a node, not to storage.
  if (!info.isResourceRequest || info.verb === 'proxy' || (info.subresource && UPGRADE_SUBRESOURCES.has(info.subresource))) {
    if (kind === 'protobuf') return { refuse: kubeStatus(415, 'protobuf bodies are accepted only for resource creates and updates', 'UnsupportedMediaType'), knownValues: [] };
    return { subject: { body: value, kind, contentType, pinned: false, knownValues: [] } };
  }

  if (kind === 'protobuf') {
    // The agent's own bytes are forwarded (stamped with provenance inside ObjectMeta); the dry run of those
    // same bytes is what is judged, so the API server stores what the client sent and nothing the dry run
    // filled in (a Service's clusterIP, a Job's selector).
    if (method === 'PUT') {
      const live = await liveObject(probe, info);
      if (probeFailed(live)) return { ...live, knownValues: [] };
      oldObject = live.value;
    }
    const rv = method === 'PUT' && stampable ? resourceVersionOf(oldObject) : undefined;
    const stamped = stampable ? stampProtobuf(value as Buffer, { annotations: method === 'PUT' ? updateProvenance(provenance, oldObject) : provenance, ...(rv ? { resourceVersionIfAbsent: rv } : {}) }) : (value as Buffer);
    if (!stamped) return { refuse: kubeStatus(400, 'the protobuf body is not a well-formed Kubernetes object (runtime.Unknown with an ObjectMeta)', 'BadRequest'), knownValues: known() };
    const result = await dryRunObject(probe, method, info, 'application/vnd.kubernetes.protobuf', stamped);
    if (probeFailed(result)) return { ...result, knownValues: known() };
    const pinned = !!rv && !protobufObjectMeta(value as Buffer).resourceVersion;
    return { subject: { body: stamped, kind, contentType, object: result.value, ...(oldObject ? { oldObject } : {}), pinned, knownValues: valuesOf(oldObject, result.value), ...(oldObject ? { liveValues: valuesOf(oldObject) } : {}) } };
  }

  if (info.isResourceRequest && (method === 'PUT' || method === 'PATCH') && kind !== undefined) {
    const live = await liveObject(probe, info);
    if (probeFailed(live)) return { ...live, knownValues: [] };
    oldObject = live.value;
    if (!oldObject && kind !== 'apply-patch' && method === 'PATCH') {
      return { refuse: kubeStatus(404, `${info.resource}${info.name ? ` "${info.name}"` : ''} not found`, 'NotFound', { name: info.name, group: info.apiGroup, kind: info.resource }), knownValues: [] };
    }
    const liveValues = valuesOf(oldObject);
    // Before the dry run: whether a `test` op passes or fails would already answer the guess.
    const oracle = kind === 'json-patch' ? oracleTest(info.resource, value, oldObject, liveValues) : undefined;
    if (oracle) return { refuse: kubeStatus(403, `airlock: JSON patch "test" operations on ${oracle} are refused: they would reveal a masked value`, 'Forbidden'), knownValues: liveValues };
    const rv = stampable ? resourceVersionOf(oldObject) : undefined;
    const pinned = !!rv && !carriesResourceVersion(kind, value);
    value = stampable ? withProvenance(kind, value, updateProvenance(provenance, oldObject), oldObject, rv) : value;
    const result = await dryRunObject(probe, method, info, contentType!, value);
    if (probeFailed(result)) return { ...result, knownValues: liveValues };
    const restored = method === 'PATCH' && kind !== 'apply-patch' && oldObject ? keepLiveValues(result.value, oldObject) : undefined;
    if (restored && 'object' in restored && restored.kept > 0) {
      // Placeholders patched back over real values: the real values stay; the resulting object is what is
      // judged and stored (a PUT of it, pinned to the live resourceVersion).
      const object = restored.object;
      const meta = { ...(object.metadata as Obj) };
      delete meta.managedFields;
      const body = { ...object, metadata: meta };
      return { subject: { body, kind: 'json', contentType: 'application/json', method: 'PUT', object: body, oldObject, pinned: !!rv, knownValues: union(liveValues, valuesOf(body)), liveValues } };
    }
    return { subject: { body: value, kind, contentType, object: result.value, ...(oldObject ? { oldObject } : {}), pinned, knownValues: union(liveValues, valuesOf(result.value)), liveValues } };
  }

  if (info.isResourceRequest && method === 'POST' && kind !== undefined) {
    if (stampable) value = withProvenance(kind, value, provenance);
    return { subject: { body: value, kind, contentType, ...(isObj(value) ? { object: value } : {}), pinned: false, knownValues: [] } };
  }

  if (info.isResourceRequest && info.verb === 'delete') {
    const live = await liveObject(probe, info);
    if (probeFailed(live)) return { ...live, knownValues: [] };
    oldObject = live.value;
    return { subject: { body: value, kind, contentType, ...(oldObject ? { oldObject } : {}), pinned: false, knownValues: known() } };
  }

  if (info.isResourceRequest && info.verb === 'deletecollection') {
    let listed;
    try {
      listed = await collectionItems(probe, info, collectionListQuery(effective.options));
    } catch (err) {
      return { refuse: kubeStatus(403, `airlock: ${(err as Error).message}; delete in smaller batches (label selectors)`, 'Forbidden'), knownValues: [] };
    }
    if (probeFailed(listed)) return { ...listed, knownValues: [] };
    return { subject: { body: value, kind, contentType, items: listed.value, pinned: false, knownValues: valuesOf(listed.value) } };
  }

  return { subject: { body: value, kind, contentType, pinned: false, knownValues: [] } };
}
