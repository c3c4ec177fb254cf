// What an agent may see of Approvals: only its own, and only enough to follow them (what was held, why,
// and what became of it). Another identity's Approvals are invisible; the object and diff (which may hold
// values of objects the agent cannot read), the fingerprint, approvers and consumption records are left
// out. Pure; the proxy applies it to every Approval it returns to an agent.
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields of spec.request an agent sees (coordinates, summary, options); `collection` is reduced to its count. */
const REQUEST_FIELDS = ['user', 'verb', 'operation', 'apiGroup', 'apiVersion', 'resource', 'subresource', 'namespace', 'name', 'via', 'summary', 'options'];

/** Labels Airlock sets for its own bookkeeping (airlock.dev/fingerprint, ...) are not the agent's business. */
function isInternalLabel(key: string): boolean {
  const slash = key.indexOf('/');
  const domain = slash >= 0 ? key.slice(0, slash) : '';
  return domain === 'airlock.dev' || domain.endsWith('.airlock.dev');
}

function pick(src: Obj, keys: readonly string[]): Obj {
  const out: Obj = {};
  for (const k of keys) if (src[k] !== undefined) out[k] = structuredClone(src[k]);
  return out;
}

/**
 * The agent's view of an Approval: undefined (invisible) unless spec.request.user is `username`; otherwise
 * a reduced copy: metadata name/creationTimestamp/resourceVersion/labels (minus airlock.dev ones),
 * spec.request without object, diff and fingerprint (collection as a count), spec.policy, spec.expiresAt,
 * status.phase and each decision's outcome and comment (not who decided).
 */
export function approvalForAgent(obj: unknown, username: string): unknown | undefined {
  if (!isObj(obj) || !isObj(obj.spec) || !isObj(obj.spec.request)) return undefined;
  const request = obj.spec.request;
  if (typeof request.user !== 'string' || request.user !== username || !username) return undefined;

  const meta = isObj(obj.metadata) ? obj.metadata : {};
  const metadata = pick(meta, ['name', 'creationTimestamp', 'resourceVersion']);
  if (isObj(meta.labels)) {
    const labels = Object.fromEntries(Object.entries(meta.labels).filter(([k]) => !isInternalLabel(k)));
    if (Object.keys(labels).length) metadata.labels = labels;
  }

  const req = pick(request, REQUEST_FIELDS);
  if (isObj(request.collection) && typeof request.collection.count === 'number') req.collection = { count: request.collection.count };
  const spec: Obj = { request: req, ...pick(obj.spec, ['policy', 'expiresAt']) };

  const view: Obj = { apiVersion: obj.apiVersion, kind: obj.kind, metadata, spec };
  if (isObj(obj.status)) {
    const status: Obj = {};
    if (typeof obj.status.phase === 'string') status.phase = obj.status.phase;
    if (Array.isArray(obj.status.decisions)) {
      status.decisions = obj.status.decisions.filter(isObj).map((d) => pick(d, ['decision', 'comment']));
    }
    view.status = status;
  }
  return view;
}
