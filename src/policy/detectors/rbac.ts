// rbacEscalation: Roles/ClusterRoles that grant escalation paths (per the Kubernetes RBAC good-practices
// guide) and bindings to powerful roles or to everyone.
import type { Explanation } from '../types.js';
import type { Detector } from './types.js';
import { arr, hit, rec, str, strs, writtenObjects } from './util.js';

const ROLE_KINDS = new Set(['Role', 'ClusterRole']);
const ROLE_RESOURCES = new Set(['roles', 'clusterroles']);
const BINDING_KINDS = new Set(['RoleBinding', 'ClusterRoleBinding']);
const BINDING_RESOURCES = new Set(['rolebindings', 'clusterrolebindings']);

const ESCALATING_VERBS = ['escalate', 'bind', 'impersonate', 'approve', 'sign'];
const READ = new Set(['get', 'list', 'watch', '*']);
const WRITE = new Set(['create', 'update', 'patch', 'delete', 'deletecollection', '*']);
/** Resources (group/resource) where any grant is an escalation path. */
const SENSITIVE_ANY_VERB: Record<string, string> = {
  '/pods/exec': 'runs commands in pods', '/pods/attach': 'attaches to pods', '/pods/portforward': 'port-forwards into pods',
  '/pods/ephemeralcontainers': 'adds ephemeral containers to pods', '/nodes/proxy': 'reaches the kubelet API',
  '/serviceaccounts/token': 'mints ServiceAccount tokens',
  'certificates.k8s.io/certificatesigningrequests/approval': 'approves certificate signing requests',
};
/** Resources where write grants are an escalation path. */
const SENSITIVE_WRITE: Record<string, string> = {
  'admissionregistration.k8s.io/mutatingwebhookconfigurations': 'changes admission webhooks',
  'admissionregistration.k8s.io/validatingwebhookconfigurations': 'changes admission webhooks',
  'admissionregistration.k8s.io/validatingadmissionpolicies': 'changes admission policies',
  'admissionregistration.k8s.io/validatingadmissionpolicybindings': 'changes admission policies',
  '/persistentvolumes': 'creates PersistentVolumes (host paths)',
  '/nodes': 'modifies nodes',
  'rbac.authorization.k8s.io/clusterroles': 'modifies cluster roles',
  'rbac.authorization.k8s.io/clusterrolebindings': 'modifies cluster role bindings',
};

export const POWERFUL_ROLES = new Set(['cluster-admin', 'admin', 'edit']);
const EVERYONE_GROUPS = new Set(['system:authenticated', 'system:unauthenticated', 'system:serviceaccounts']);

function groupMatches(groups: string[], g: string): boolean {
  return groups.includes('*') || groups.includes(g);
}
function resourceMatches(resources: string[], r: string): boolean {
  const [base] = r.split('/');
  return resources.some((x) => x === '*' || x === r || x === `${base}/*` || (x.startsWith('*/') && r.endsWith(x.slice(1))));
}

function roleRule(rule: Record<string, unknown>, path: string): Explanation[] {
  const out: Explanation[] = [];
  const verbs = strs(rule.verbs);
  const groups = strs(rule.apiGroups);
  const resources = strs(rule.resources);
  const isResourceRule = resources.length > 0;
  if (verbs.includes('*')) out.push(hit('rbacEscalation', `${path}.verbs`, 'grants all verbs ("*")'));
  if (resources.some((r) => r.includes('*'))) out.push(hit('rbacEscalation', `${path}.resources`, 'grants wildcard resources'));
  for (const v of ESCALATING_VERBS) if (verbs.includes(v)) out.push(hit('rbacEscalation', `${path}.verbs`, `grants the "${v}" verb`));
  if (!isResourceRule) return out;
  const anyVerb = verbs.length > 0;
  if (groupMatches(groups, '') && resourceMatches(resources, 'secrets') && verbs.some((v) => READ.has(v))) {
    out.push(hit('rbacEscalation', `${path}.resources`, 'grants read access to Secrets'));
  }
  for (const [key, what] of Object.entries(SENSITIVE_ANY_VERB)) {
    const slash = key.indexOf('/');
    const g = key.slice(0, slash);
    const r = key.slice(slash + 1);
    if (anyVerb && groupMatches(groups, g) && resourceMatches(resources, r) && !resources.includes('*')) out.push(hit('rbacEscalation', `${path}.resources`, `grants ${r} (${what})`));
  }
  for (const [key, what] of Object.entries(SENSITIVE_WRITE)) {
    const slash = key.indexOf('/');
    const g = key.slice(0, slash);
    const r = key.slice(slash + 1);
    if (verbs.some((v) => WRITE.has(v)) && groupMatches(groups, g) && resourceMatches(resources, r) && !resources.includes('*')) out.push(hit('rbacEscalation', `${path}.resources`, `grants writes to ${r} (${what})`));
  }
  return out;
}

export const rbacEscalation: Detector = (req) => {
  const out: Explanation[] = [];
  for (const { obj, path, kind } of writtenObjects(req, ROLE_KINDS, ROLE_RESOURCES)) {
    const base = path ? `${path}.` : '';
    arr(obj.rules).forEach((r, i) => {
      const rr = rec(r);
      if (rr) out.push(...roleRule(rr, `${base}rules[${i}]`));
    });
    if ((kind === 'ClusterRole' || req.resource === 'clusterroles') && rec(obj.aggregationRule)) {
      out.push(hit('rbacEscalation', `${base}aggregationRule`, 'aggregates permissions from other ClusterRoles (their grants are not visible here)'));
    }
  }
  for (const { obj, path } of writtenObjects(req, BINDING_KINDS, BINDING_RESOURCES)) {
    const base = path ? `${path}.` : '';
    const ref = rec(obj.roleRef);
    const role = str(ref?.name) ?? '';
    if (POWERFUL_ROLES.has(role)) out.push(hit('rbacEscalation', `${base}roleRef.name`, `binds the powerful role "${role}"`));
    else if (role.startsWith('system:')) out.push(hit('rbacEscalation', `${base}roleRef.name`, `binds the system role "${role}"`));
    arr(obj.subjects).forEach((s, i) => {
      const sub = rec(s);
      const name = str(sub?.name) ?? '';
      const kind = str(sub?.kind) ?? '';
      if (kind === 'Group' && (EVERYONE_GROUPS.has(name) || name.startsWith('system:serviceaccounts:'))) {
        out.push(hit('rbacEscalation', `${base}subjects[${i}].name`, `binds to the broad group "${name}"`));
      }
      if (kind === 'User' && (name === 'system:anonymous' || name === '*')) out.push(hit('rbacEscalation', `${base}subjects[${i}].name`, `binds to "${name}"`));
    });
  }
  return out;
};
