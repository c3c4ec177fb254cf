// Detectors on what a request does (verb + resource), independent of object contents: secret reads,
// interactive access to pods and nodes, token minting, destructive deletes, node writes, CSR approval,
// deletes of others' objects, admission control changes, Airlock's own resources, endpoints, and Pod
// Security namespace labels.
import type { RequestAttributes } from '../types.js';
import type { Detector } from './types.js';
import { MUTATING_VERBS, PROVENANCE_AGENT, READ_VERBS, arr, creatorOf, hit, objectsOf, rec, str } from './util.js';

const res = (req: RequestAttributes): string => (req.subresource ? `${req.resource}/${req.subresource}` : req.resource);
const core = (req: RequestAttributes): boolean => req.apiGroup === '';
const nameOf = (req: RequestAttributes): string =>
  req.name ?? str(rec(rec(req.object)?.metadata)?.name) ?? str(rec(rec(req.oldObject)?.metadata)?.name) ?? '';

export const secretRead: Detector = (req) =>
  req.isResourceRequest && core(req) && req.resource === 'secrets' && !req.subresource && READ_VERBS.has(req.verb)
    ? [hit('secretRead', 'verb', `${req.verb} of Secrets${req.name ? ` (${req.name})` : ''}`)] : [];

const EXEC: Record<string, string> = {
  'pods/exec': 'runs a command in a pod', 'pods/attach': 'attaches to a running container', 'pods/portforward': 'port-forwards into a pod',
  'pods/proxy': 'proxies to a pod', 'services/proxy': 'proxies to a service', 'nodes/proxy': 'proxies to the kubelet API of a node',
};
export const podExec: Detector = (req) => {
  const what = core(req) && req.isResourceRequest ? EXEC[res(req)] : undefined;
  return what ? [hit('podExec', 'subresource', `${what} (${res(req)})`)] : [];
};

export const serviceAccountToken: Detector = (req) => {
  if (!req.isResourceRequest || !core(req)) return [];
  if (res(req) === 'serviceaccounts/token') return [hit('serviceAccountToken', 'subresource', 'mints a ServiceAccount token (serviceaccounts/token)')];
  if (req.resource === 'secrets' && !req.subresource && (req.verb === 'create' || req.verb === 'update' || req.verb === 'patch')) {
    return objectsOf(req).filter((o) => str(o.obj.type) === 'kubernetes.io/service-account-token')
      .map((o) => hit('serviceAccountToken', o.path ? `${o.path}.type` : 'type', 'creates a long-lived ServiceAccount token Secret'));
  }
  return [];
};

const DESTRUCTIVE = new Set(['namespaces', 'customresourcedefinitions', 'persistentvolumes', 'persistentvolumeclaims']);
/** Whether the requester created the object it deletes (the provenance annotation cannot be forged: see the engine's provenance check). */
const createdByRequester = (req: RequestAttributes): boolean => creatorOf(req.oldObject) === req.user.username;
export const destructiveDelete: Detector = (req, s) => {
  if (!req.isResourceRequest || req.subresource) return [];
  if (req.verb === 'deletecollection') return [hit('destructiveDelete', 'verb', `deletes every ${req.resource} matching the request`)];
  if (req.verb !== 'delete' || !DESTRUCTIVE.has(req.resource)) return [];
  // A namespace the requesting agent created itself (namespace updates are not routine agent work, so the
  // annotation cannot quietly be moved onto someone else's namespace by a policy that holds them).
  if (req.resource === 'namespaces' && core(req) && s.agentsMayDeleteOwnNamespaces && createdByRequester(req)) return [];
  return [hit('destructiveDelete', 'verb', `deletes ${req.resource} ${nameOf(req) || '(unnamed)'}`)];
};

/** A Pod its controller (ReplicaSet, StatefulSet, Job, ...) recreates when it is deleted. */
const controlledPod = (req: RequestAttributes): boolean =>
  core(req) && req.resource === 'pods' && arr(rec(rec(req.oldObject)?.metadata)?.ownerReferences).some((o) => rec(o)?.controller === true);
/**
 * Deletes of objects the requester did not create through Airlock (judged on the live object, `oldObject`).
 * Objects made by controllers carry no provenance, so deleting them fires too (unless
 * agentsMayDeleteControlledPods lets Pod restarts through). Collections always fire: their members are unknown.
 */
export const deleteOthersObjects: Detector = (req, s) => {
  if (!req.isResourceRequest || req.subresource) return [];
  const what = `${req.resource}${req.apiGroup ? `.${req.apiGroup}` : ''}`;
  if (req.verb === 'deletecollection') return [hit('deleteOthersObjects', 'verb', `deletes every ${what} matching the request, whoever created them`)];
  if (req.verb !== 'delete') return [];
  const name = nameOf(req) || '(unnamed)';
  if (!rec(req.oldObject)) return [hit('deleteOthersObjects', 'verb', `deletes ${what} ${name}, whose creator is unknown (the live object was not supplied)`)];
  const creator = creatorOf(req.oldObject);
  if (creator === req.user.username) return [];
  if (s.agentsMayDeleteControlledPods && controlledPod(req)) return [];
  return creator
    ? [hit('deleteOthersObjects', `metadata.annotations["${PROVENANCE_AGENT}"]`, `deletes ${what} ${name}, which ${creator} created, not ${req.user.username}`)]
    : [hit('deleteOthersObjects', 'metadata', `deletes ${what} ${name}, which ${req.user.username} did not create through Airlock (no ${PROVENANCE_AGENT} annotation)`)];
};

/**
 * Workload writes whose controller would adopt (and may delete) existing objects someone else created:
 * the orphans its selector matches (filled as `adoptions` by the caller). Unknown orphans fire too.
 */
export const adoptsOthersObjects: Detector = (req) => {
  const a = req.adoptions;
  if (!a) return [];
  if ('error' in a) return [hit('adoptsOthersObjects', 'spec.selector', `what the selector would adopt could not be listed: ${a.error}`)];
  const others = a.orphans.filter((o) => o.creator !== req.user.username);
  if (!others.length) return [];
  const names = others.slice(0, 5).map((o) => o.name).join(', ') + (others.length > 5 ? `, and ${others.length - 5} more` : '');
  return [hit('adoptsOthersObjects', 'spec.selector', `the selector matches ${others.length} existing object(s) no controller owns and ${req.user.username} did not create (${names}): its controller would adopt them and may delete them`)];
};

export const nodeWrite: Detector = (req) =>
  req.isResourceRequest && core(req) && req.resource === 'nodes' && MUTATING_VERBS.has(req.verb) && req.subresource !== 'proxy'
    ? [hit('nodeWrite', 'verb', `${req.verb} of Node ${nameOf(req) || '(collection)'}${req.subresource ? ` (${req.subresource})` : ''}`)] : [];

export const csrApproval: Detector = (req) => {
  if (!req.isResourceRequest || req.apiGroup !== 'certificates.k8s.io' || req.resource !== 'certificatesigningrequests') return [];
  if (req.subresource === 'approval' && req.verb !== 'get') return [hit('csrApproval', 'subresource', 'approves or denies a certificate signing request')];
  if (!req.subresource && req.verb === 'create') return [hit('csrApproval', 'verb', 'requests a cluster-signed certificate')];
  return [];
};

const ADMISSION = new Set(['mutatingwebhookconfigurations', 'validatingwebhookconfigurations', 'validatingadmissionpolicies',
  'validatingadmissionpolicybindings', 'mutatingadmissionpolicies', 'mutatingadmissionpolicybindings']);
export const admissionWebhookChange: Detector = (req) =>
  req.isResourceRequest && req.apiGroup === 'admissionregistration.k8s.io' && ADMISSION.has(req.resource) && MUTATING_VERBS.has(req.verb)
    ? [hit('admissionWebhookChange', 'resource', `${req.verb} of ${req.resource} ${nameOf(req)}`.trim())] : [];

export const selfProtection: Detector = (req, s) => {
  if (!req.isResourceRequest) return [];
  const out = [];
  const name = nameOf(req);
  if (req.namespace && s.protectedNamespaces(req.namespace)) out.push(hit('selfProtection', 'namespace', `namespace ${req.namespace} is protected`));
  if (core(req) && req.resource === 'namespaces' && name && s.protectedNamespaces(name) && !req.namespace) out.push(hit('selfProtection', 'name', `namespace ${name} is protected`));
  if (req.apiGroup === 'airlock.dev' || req.apiGroup.endsWith('.airlock.dev')) out.push(hit('selfProtection', 'apiGroup', `${req.resource} in ${req.apiGroup} are Airlock's own resources`));
  const mutating = MUTATING_VERBS.has(req.verb);
  if (req.apiGroup === 'apiextensions.k8s.io' && req.resource === 'customresourcedefinitions' && (name.endsWith('.airlock.dev') || (mutating && !name))) {
    out.push(hit('selfProtection', 'name', `CustomResourceDefinition ${name || '(collection)'} may define Airlock's API`));
  }
  if (mutating && req.apiGroup === 'admissionregistration.k8s.io' && ADMISSION.has(req.resource) && (name.startsWith('airlock') || !name)) {
    out.push(hit('selfProtection', 'name', `${req.resource} ${name || '(collection)'} may be Airlock's admission configuration`));
  }
  if (mutating && req.apiGroup === 'rbac.authorization.k8s.io' && (req.resource === 'clusterroles' || req.resource === 'clusterrolebindings') && name.startsWith('airlock')) {
    out.push(hit('selfProtection', 'name', `${req.resource} ${name} belongs to Airlock`));
  }
  if (mutating && isAirlockRecord(req, name)) out.push(hit('selfProtection', 'metadata', `${req.resource} ${name || '(collection)'} is part of Airlock's audit trail`));
  return out;
};

/** The audit summary ConfigMap (src/webhook/audit.ts) Airlock keeps in every namespace with audit hits. */
const AUDIT_CONFIGMAP = 'airlock-audit';
const managedByAirlock = (o: unknown): boolean => str(rec(rec(rec(o)?.metadata)?.labels)?.['app.kubernetes.io/managed-by']) === 'airlock';
const airlockEvent = (o: unknown): boolean => str(rec(o)?.reason) === 'AirlockAudit' || (str(rec(o)?.reportingComponent) ?? '').startsWith('airlock.dev/');

/**
 * What Airlock writes into others' namespaces (audit Events, the audit summary ConfigMap, anything labelled
 * managed-by airlock), in the old object or the new one: an agent must neither forge nor erase it.
 */
function isAirlockRecord(req: RequestAttributes, name: string): boolean {
  if (core(req) && req.resource === 'configmaps' && name === AUDIT_CONFIGMAP) return true;
  const objects = [req.object, req.oldObject];
  if (objects.some(managedByAirlock)) return true;
  return (req.resource === 'events' && (core(req) || req.apiGroup === 'events.k8s.io')) && objects.some(airlockEvent);
}

export const endpointsWrite: Detector = (req) =>
  req.isResourceRequest && MUTATING_VERBS.has(req.verb) &&
  ((core(req) && req.resource === 'endpoints') || (req.apiGroup === 'discovery.k8s.io' && req.resource === 'endpointslices'))
    ? [hit('endpointsWrite', 'resource', `${req.verb} of ${req.resource} can redirect Service traffic (CVE-2021-25740)`)] : [];

const PSA = 'pod-security.kubernetes.io/';
export const podSecurityLabels: Detector = (req) => {
  if (!req.isResourceRequest || !core(req) || req.resource !== 'namespaces' || !['create', 'update', 'patch'].includes(req.verb)) return [];
  const labels = (o: unknown): Record<string, unknown> => rec(rec(rec(o)?.metadata)?.labels) ?? {};
  const now = labels(req.object);
  const before = labels(req.oldObject);
  const out = [];
  for (const mode of ['enforce', 'audit', 'warn']) {
    const k = `${PSA}${mode}`;
    if (now[k] === 'privileged') out.push(hit('podSecurityLabels', `metadata.labels["${k}"]`, `sets Pod Security ${mode} level to privileged`));
    else if (mode === 'enforce' && before[k] !== undefined && now[k] !== before[k]) {
      out.push(hit('podSecurityLabels', `metadata.labels["${k}"]`, `changes Pod Security enforce level from ${String(before[k])} to ${now[k] === undefined ? '(removed)' : String(now[k])}`));
    }
  }
  return out;
};
