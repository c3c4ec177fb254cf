// The ServiceAccount bound of powerfulServiceAccount: the permissions a workload's ServiceAccount must not
// hold, how they are named, and which ServiceAccounts a request's pod specs run as. Pure; the checks
// themselves (SubjectAccessReview) run before the engine decides (service-account-enrich.ts).
import type { ServiceAccountPermission } from '../api/types.js';
import type { RequestAttributes } from './types.js';
import { arr, podSpecs, rec, str } from './detectors/util.js';

/** A permission with its defaults applied (`group` "", `namespace` "same"). */
export interface Permission { verb: string; group: string; resource: string; subresource?: string; namespace: string }

const RBAC = 'rbac.authorization.k8s.io';
const perm = (verb: string, resource: string, group = '', namespace = 'same', subresource?: string): Permission =>
  ({ verb, group, resource, ...(subresource ? { subresource } : {}), namespace });

/**
 * The default bound (docs/policy.md lists it): anything that lets code running as the ServiceAccount read
 * credentials, act as someone else, grant itself more, or disable Airlock. `same` checks the
 * ServiceAccount's own namespace, which a cluster-wide grant also allows.
 */
export const DEFAULT_SERVICE_ACCOUNT_BOUND: readonly Permission[] = Object.freeze([
  perm('*', '*', '*', '*'), // cluster-admin
  perm('create', 'pods', '', 'same', 'exec'),
  perm('create', 'pods', '', '*', 'exec'),
  ...['get', 'list', 'watch'].flatMap((v) => [perm(v, 'secrets', '', 'same'), perm(v, 'secrets', '', '*')]),
  ...['create', 'update', 'patch', 'bind', 'escalate'].flatMap((v) => [perm(v, 'roles', RBAC, 'same'), perm(v, 'clusterroles', RBAC, '*')]),
  ...['create', 'update', 'patch'].flatMap((v) => [perm(v, 'rolebindings', RBAC, 'same'), perm(v, 'clusterrolebindings', RBAC, '*')]),
  perm('impersonate', 'users', '', '*'),
  perm('impersonate', 'groups', '', '*'),
  perm('impersonate', 'serviceaccounts', '', 'same'),
  perm('create', 'serviceaccounts', '', 'same', 'token'),
  perm('create', 'certificatesigningrequests', 'certificates.k8s.io', '*'),
  perm('update', 'certificatesigningrequests', 'certificates.k8s.io', '*', 'approval'),
  perm('patch', 'nodes', '', '*'),
  ...['update', 'delete'].flatMap((v) => [
    perm(v, 'validatingwebhookconfigurations', 'admissionregistration.k8s.io', '*'),
    perm(v, 'mutatingwebhookconfigurations', 'admissionregistration.k8s.io', '*'),
  ]),
  perm('create', 'pods', '', 'kube-system'),
].map((p) => Object.freeze(p)));

export function normalisePermission(p: ServiceAccountPermission): Permission {
  return perm(p.verb, p.resource, p.group ?? '', p.namespace ?? 'same', p.subresource || undefined);
}

/** A stable, readable key: `create pods/exec in same`, `* *.* in *`, `get secrets in kube-system`. */
export function permissionKey(p: ServiceAccountPermission): string {
  const n = normalisePermission(p);
  return `${n.verb} ${n.resource}${n.subresource ? `/${n.subresource}` : ''}${n.group ? `.${n.group}` : ''} in ${n.namespace}`;
}

export function describePermission(p: ServiceAccountPermission): string {
  const n = normalisePermission(p);
  const where = n.namespace === 'same' ? 'in its namespace' : n.namespace === '*' ? 'cluster-wide' : `in namespace ${n.namespace}`;
  return `${n.verb} ${n.resource}${n.subresource ? `/${n.subresource}` : ''}${n.group ? `.${n.group}` : ''} ${where}`;
}

/** One ServiceAccount a pod spec of the request runs as ("" namespace: the request does not say). */
export interface ServiceAccountUse { namespace: string; name: string; key: string; path: string }

export const serviceAccountKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/**
 * Whether the pod gets a token of its ServiceAccount: unless automountServiceAccountToken is false, and then
 * still through a projected serviceAccountToken source, or a CSI volume (drivers may be given the token).
 */
function getsToken(spec: Record<string, unknown>): boolean {
  if (spec.automountServiceAccountToken !== false) return true;
  return arr(spec.volumes).some((v) => {
    const vol = rec(v);
    return !!rec(vol?.csi) || arr(rec(vol?.projected)?.sources).some((s) => !!rec(rec(s)?.serviceAccountToken));
  });
}

/** The ServiceAccounts the request's pod specs (every workload kind, List items) would run as with a token. */
export function serviceAccountsOf(req: RequestAttributes): ServiceAccountUse[] {
  const out: ServiceAccountUse[] = [];
  for (const ps of podSpecs(req)) {
    if (!getsToken(ps.spec)) continue;
    const namespace = req.namespace ?? str(ps.meta?.namespace) ?? '';
    const current = str(ps.spec.serviceAccountName);
    const deprecated = str(ps.spec.serviceAccount);
    // The API server uses serviceAccountName, falling back to the deprecated serviceAccount, then "default".
    const names: [string, string][] = [[current || deprecated || 'default', `${ps.path}.${(current || !deprecated) ? 'serviceAccountName' : 'serviceAccount'}`]];
    if (current && deprecated && deprecated !== current) names.push([deprecated, `${ps.path}.serviceAccount`]);
    for (const [name, path] of names) out.push({ namespace, name, key: serviceAccountKey(namespace, name), path });
  }
  return out;
}
