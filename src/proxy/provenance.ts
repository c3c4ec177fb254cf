// Provenance: every object an agent creates or updates carries who did it and in which session.
// Annotations are added to what is forwarded in a form the API server accepts for that content type.
import type { BodyKind } from './body.js';
import { pointerToken } from './json-patch.js';
import { PROVENANCE_AGENT, creatorOf } from '../policy/detectors/util.js';

export const AGENT_ANNOTATION = PROVENANCE_AGENT;
export const SESSION_ANNOTATION = 'airlock.dev/session';

type Obj = Record<string, unknown>;

/** API groups whose objects are never stored (reviews): the API server rejects any metadata on them. */
const VIRTUAL_GROUPS = new Set(['authorization.k8s.io', 'authentication.k8s.io']);

export { creatorOf };

/** Whether a write to this resource produces a stored object that can carry provenance. */
export function stampable(apiGroup: string, subresource: string | undefined): boolean {
  return !subresource && !VIRTUAL_GROUPS.has(apiGroup);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Adds annotations (and, optionally, a resourceVersion precondition) to a request body of any kind. */
export function withProvenance(
  kind: BodyKind,
  body: unknown,
  annotations: Record<string, string>,
  live?: Obj,
  resourceVersion?: string,
): unknown {
  if (kind === 'json-patch') {
    if (!Array.isArray(body)) return body;
    const ops = [...body];
    const meta = isObj(live?.metadata) ? (live.metadata as Obj) : undefined;
    if (isObj(meta?.annotations)) {
      for (const [k, v] of Object.entries(annotations)) ops.push({ op: 'add', path: `/metadata/annotations/${pointerToken(k)}`, value: v });
    } else {
      // The patch itself may create the annotations map; merge with whatever it sets.
      const set = ops.find((o) => isObj(o) && (o as Obj).path === '/metadata/annotations' && ((o as Obj).op === 'add' || (o as Obj).op === 'replace')) as Obj | undefined;
      if (set && isObj(set.value)) set.value = { ...(set.value as Obj), ...annotations };
      else ops.push({ op: 'add', path: '/metadata/annotations', value: { ...annotations } });
    }
    if (resourceVersion) ops.push({ op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion });
    return ops;
  }
  if (!isObj(body)) return body;
  const out: Obj = { ...body };
  const meta: Obj = isObj(out.metadata) ? { ...(out.metadata as Obj) } : {};
  meta.annotations = { ...(isObj(meta.annotations) ? (meta.annotations as Obj) : {}), ...annotations };
  if (resourceVersion && meta.resourceVersion === undefined) meta.resourceVersion = resourceVersion;
  out.metadata = meta;
  return out;
}
