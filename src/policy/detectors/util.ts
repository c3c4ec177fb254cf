// Helpers shared by the built-in detectors: safe access to untrusted JSON, and locating objects, pod specs
// and containers inside a request with the field path of each.
import type { Explanation, RequestAttributes } from '../types.js';

export type Rec = Record<string, unknown>;

export const rec = (x: unknown): Rec | undefined => (x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Rec) : undefined);
export const arr = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);
export const str = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);
export const strs = (x: unknown): string[] => arr(x).filter((v): v is string => typeof v === 'string');
export const join = (base: string, field: string): string => (base ? `${base}.${field}` : field);

export const WRITE_VERBS = new Set(['create', 'update', 'patch']);
export const MUTATING_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
export const READ_VERBS = new Set(['get', 'list', 'watch']);
/** The proxy's provenance annotation (src/proxy/provenance.ts): who created an object through Airlock. */
export const PROVENANCE_AGENT = 'airlock.dev/agent';

export const isWrite = (req: RequestAttributes): boolean => WRITE_VERBS.has(req.verb);

/** The agent that created an object through the proxy (its provenance annotation), if any. */
export const creatorOf = (obj: unknown): string | undefined => str(rec(rec(rec(obj)?.metadata)?.annotations)?.[PROVENANCE_AGENT]);

export interface ObjRef { obj: Rec; path: string; kind: string }

/** The request's object (the result of create/update/patch), or each item of a List, with its path. */
export function objectsOf(req: RequestAttributes, which: 'object' | 'oldObject' = 'object'): ObjRef[] {
  const root = rec(req[which]);
  if (!root) return [];
  const kind = str(root.kind) ?? '';
  if (Array.isArray(root.items) && (kind === 'List' || kind.endsWith('List'))) {
    const out: ObjRef[] = [];
    root.items.forEach((it, i) => {
      const o = rec(it);
      if (o) out.push({ obj: o, path: `items[${i}]`, kind: str(o.kind) ?? '' });
    });
    return out;
  }
  return [{ obj: root, path: '', kind }];
}

/** Objects of a write request whose kind (or, lacking a kind, the request resource) is one of `kinds`. */
export function writtenObjects(req: RequestAttributes, kinds: ReadonlySet<string>, resources: ReadonlySet<string>): ObjRef[] {
  if (!isWrite(req)) return [];
  return objectsOf(req).filter((o) => kinds.has(o.kind) || (o.kind === '' && !req.subresource && resources.has(req.resource)));
}

export interface PodSpecRef { spec: Rec; path: string; meta?: Rec; metaPath: string }

function looksLikePodSpec(s: Rec | undefined): s is Rec {
  return !!s && (Array.isArray(s.containers) || Array.isArray(s.initContainers) || Array.isArray(s.ephemeralContainers) ||
    Array.isArray(s.volumes) || 'hostNetwork' in s || 'hostPID' in s || 'hostIPC' in s);
}

/**
 * Every pod spec in the request's object, found by shape so that Pods, all workload kinds (Deployment,
 * ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController: spec.template; CronJob:
 * spec.jobTemplate.spec.template; PodTemplate: template) and custom resources that embed a pod template
 * are covered, and so are List items.
 */
export function podSpecs(req: RequestAttributes): PodSpecRef[] {
  if (!isWrite(req)) return [];
  const out: PodSpecRef[] = [];
  for (const { obj, path } of objectsOf(req)) {
    const spec = rec(obj.spec);
    // Pod (and the pods/ephemeralcontainers subresource, whose object is a Pod)
    if (looksLikePodSpec(spec)) out.push({ spec, path: join(path, 'spec'), meta: rec(obj.metadata), metaPath: join(path, 'metadata') });
    const tmpl = rec(spec?.template);
    const tspec = rec(tmpl?.spec);
    if (looksLikePodSpec(tspec)) out.push({ spec: tspec, path: join(path, 'spec.template.spec'), meta: rec(tmpl?.metadata), metaPath: join(path, 'spec.template.metadata') });
    const jt = rec(rec(rec(spec?.jobTemplate)?.spec)?.template);
    const jspec = rec(jt?.spec);
    if (looksLikePodSpec(jspec)) out.push({ spec: jspec, path: join(path, 'spec.jobTemplate.spec.template.spec'), meta: rec(jt?.metadata), metaPath: join(path, 'spec.jobTemplate.spec.template.metadata') });
    const ptmpl = rec(obj.template); // PodTemplate
    const pspec = rec(ptmpl?.spec);
    if (looksLikePodSpec(pspec)) out.push({ spec: pspec, path: join(path, 'template.spec'), meta: rec(ptmpl?.metadata), metaPath: join(path, 'template.metadata') });
  }
  return out;
}

export interface ContainerRef { c: Rec; path: string; name: string }

export function containersOf(ps: PodSpecRef): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
    arr(ps.spec[field]).forEach((c, i) => {
      const r = rec(c);
      if (r) out.push({ c: r, path: `${ps.path}.${field}[${i}]`, name: str(r.name) ?? '' });
    });
  }
  return out;
}

/** Convenience: runs `fn` for each container of each pod spec of the request. */
export function eachContainer(req: RequestAttributes, fn: (c: ContainerRef, ps: PodSpecRef) => Explanation[] | Explanation | undefined): Explanation[] {
  const out: Explanation[] = [];
  for (const ps of podSpecs(req)) {
    for (const c of containersOf(ps)) {
      const r = fn(c, ps);
      if (Array.isArray(r)) out.push(...r);
      else if (r) out.push(r);
    }
  }
  return out;
}

export const hit = (detector: string, path: string, message: string): Explanation => ({ detector, path, message });
