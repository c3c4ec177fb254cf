// Adoption: the controller of a ReplicaSet, ReplicationController, DaemonSet, StatefulSet or manual-selector
// Job takes over every existing Pod its selector matches that no controller owns (a Deployment does the
// same with ReplicaSets), and may then delete it. An agent writing such a workload could so delete or take
// over objects it could not delete itself. The engine is pure: the orphans a write would adopt are found
// here, through an injected lister, and judged by the adoptsOthersObjects detector.
import { PROVENANCE_AGENT, rec } from './detectors/util.js';
import type { RequestAttributes } from './types.js';

/** What a workload's controller adopts: the child collection (under the workload's namespace). */
const ADOPTERS: Record<string, { child: string; manualSelectorOnly?: boolean }> = {
  'apps/replicasets': { child: '/api/v1/namespaces/{ns}/pods' },
  '/replicationcontrollers': { child: '/api/v1/namespaces/{ns}/pods' },
  'apps/daemonsets': { child: '/api/v1/namespaces/{ns}/pods' },
  'apps/statefulsets': { child: '/api/v1/namespaces/{ns}/pods' },
  'batch/jobs': { child: '/api/v1/namespaces/{ns}/pods', manualSelectorOnly: true },
  'apps/deployments': { child: '/apis/apps/v1/namespaces/{ns}/replicasets' },
};

export interface Orphan {
  name: string;
  /** Its airlock.dev/agent annotation (who created it through Airlock), if any. */
  creator?: string;
}

/** Lists the objects under `path` matching `labelSelector` that no controller owns. */
export type OrphanLister = (path: string, labelSelector: string) => Promise<Orphan[]>;


/** The child collection and label selector a workload write would adopt from, if it adopts at all. */
export function adoptionScope(req: RequestAttributes): { path: string; labelSelector: string } | undefined {
  if (!req.isResourceRequest || req.subresource || !req.namespace || !['create', 'update', 'patch'].includes(req.verb)) return undefined;
  const adopter = ADOPTERS[`${req.apiGroup}/${req.resource}`];
  const spec = rec(rec(req.object)?.spec);
  if (!adopter || !spec) return undefined;
  if (adopter.manualSelectorOnly && spec.manualSelector !== true) return undefined;
  // A ReplicationController without a selector (absent or empty) gets its template's labels as one: the API
  // server defaults it, and a create is judged as sent, before that defaulting.
  const rcDefault = req.resource === 'replicationcontrollers' && req.apiGroup === '' && Object.keys(rec(spec.selector) ?? {}).length === 0;
  const labelSelector = selectorString(rcDefault ? rec(rec(spec.template)?.metadata)?.labels : spec.selector);
  // No usable selector: the API server refuses the object.
  if (labelSelector === undefined) return undefined;
  return { path: adopter.child.replace('{ns}', encodeURIComponent(req.namespace)), labelSelector };
}

/** A metav1.LabelSelector (or a ReplicationController's plain map) as a label selector string. */
export function selectorString(selector: unknown): string | undefined {
  const sel = rec(selector);
  if (!sel) return undefined;
  const parts: string[] = [];
  const plain = !('matchLabels' in sel) && !('matchExpressions' in sel);
  const labels = plain ? sel : sel.matchLabels;
  if (labels !== undefined) {
    if (!rec(labels)) return undefined;
    for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
      if (typeof v !== 'string') return undefined;
      parts.push(`${k}=${v}`);
    }
  }
  for (const expr of Array.isArray(sel.matchExpressions) ? sel.matchExpressions : []) {
    const e = rec(expr);
    if (!e || typeof e.key !== 'string') return undefined;
    const values = Array.isArray(e.values) ? e.values.map(String) : [];
    if (e.operator === 'In') parts.push(`${e.key} in (${values.join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values.join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else return undefined;
  }
  // An empty selector would match everything: adoption of the whole namespace, listed as such.
  return parts.join(',');
}

/**
 * Sets `attrs.adoptions`: the orphans the workload's controller would adopt (`{orphans}`), or why they are
 * unknown (`{error}`, which the detector holds). Never throws.
 */
export async function enrichAdoptions(attrs: RequestAttributes, list: OrphanLister): Promise<void> {
  const scope = adoptionScope(attrs);
  if (!scope) return;
  try {
    attrs.adoptions = { orphans: await list(scope.path, scope.labelSelector) };
  } catch (err) {
    attrs.adoptions = { error: String((err as Error)?.message ?? err).slice(0, 300) };
  }
}

/** The orphans in a List response: items with no controller ownerReference. */
export function orphansOf(list: unknown): Orphan[] {
  const items = rec(list)?.items;
  const out: Orphan[] = [];
  for (const it of Array.isArray(items) ? items : []) {
    const meta = rec(rec(it)?.metadata) ?? {};
    const owners = Array.isArray(meta.ownerReferences) ? meta.ownerReferences : [];
    if (owners.some((o) => rec(o)?.controller === true)) continue;
    const creator = rec(meta.annotations)?.[PROVENANCE_AGENT];
    out.push({ name: String(meta.name ?? ''), ...(typeof creator === 'string' ? { creator } : {}) });
  }
  return out;
}
