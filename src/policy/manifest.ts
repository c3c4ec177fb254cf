// Turns a plain Kubernetes manifest into RequestAttributes (for offline testing): kind -> resource, scope,
// and which of object/oldObject the verb carries. Resource names come from a table of built-in kinds with
// the usual English plural as a fallback (custom resources).
import type { RequestAttributes, UserInfo, Via } from './types.js';

const IRREGULAR: Record<string, string> = {
  Endpoints: 'endpoints', Ingress: 'ingresses', IngressClass: 'ingressclasses', NetworkPolicy: 'networkpolicies',
  PodSecurityPolicy: 'podsecuritypolicies', PriorityClass: 'priorityclasses', StorageClass: 'storageclasses',
  RuntimeClass: 'runtimeclasses', ResourceQuota: 'resourcequotas', ComponentStatus: 'componentstatuses',
  PodDisruptionBudget: 'poddisruptionbudgets', AgentPolicy: 'agentpolicies', ValidatingAdmissionPolicy: 'validatingadmissionpolicies',
  MutatingAdmissionPolicy: 'mutatingadmissionpolicies', VolumeAttributesClass: 'volumeattributesclasses', DeviceClass: 'deviceclasses',
};

const CLUSTER_SCOPED = new Set(['Namespace', 'Node', 'PersistentVolume', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition',
  'StorageClass', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding', 'MutatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding', 'CertificateSigningRequest',
  'PriorityClass', 'IngressClass', 'RuntimeClass', 'APIService', 'CSIDriver', 'CSINode', 'VolumeAttachment', 'AgentPolicy', 'Approval',
  'ComponentStatus', 'FlowSchema', 'PriorityLevelConfiguration', 'TokenReview', 'SubjectAccessReview', 'SelfSubjectAccessReview',
  'SelfSubjectRulesReview', 'ClusterTrustBundle', 'DeviceClass', 'VolumeAttributesClass']);

export function resourceForKind(kind: string): string {
  if (IRREGULAR[kind]) return IRREGULAR[kind];
  const k = kind.toLowerCase();
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(k)) return `${k}es`;
  return `${k}s`;
}

export const isClusterScoped = (kind: string): boolean => CLUSTER_SCOPED.has(kind);

export function splitApiVersion(apiVersion: string): { apiGroup: string; apiVersion: string } {
  const i = apiVersion.lastIndexOf('/');
  return i < 0 ? { apiGroup: '', apiVersion } : { apiGroup: apiVersion.slice(0, i), apiVersion: apiVersion.slice(i + 1) };
}

export interface ManifestRequestOptions {
  user: UserInfo;
  verb?: string;
  namespace?: string;
  subresource?: string;
  via?: Via;
  namespaceLabels?: Record<string, string>;
  oldObject?: Record<string, unknown>;
}

export function requestFromManifest(manifest: Record<string, unknown>, o: ManifestRequestOptions): RequestAttributes {
  const kind = typeof manifest.kind === 'string' ? manifest.kind : '';
  const av = typeof manifest.apiVersion === 'string' ? manifest.apiVersion : '';
  if (!kind || !av) throw new Error('a manifest needs apiVersion and kind');
  const meta = (manifest.metadata && typeof manifest.metadata === 'object' ? manifest.metadata : {}) as Record<string, unknown>;
  const verb = o.verb ?? 'create';
  const { apiGroup, apiVersion } = splitApiVersion(av);
  const name = typeof meta.name === 'string' ? meta.name : undefined;
  const ns = isClusterScoped(kind) ? undefined : o.namespace ?? (typeof meta.namespace === 'string' ? meta.namespace : 'default');
  const deleting = verb === 'delete' || verb === 'deletecollection';
  const reading = verb === 'get' || verb === 'list' || verb === 'watch';
  return {
    user: o.user,
    verb,
    isResourceRequest: true,
    apiGroup,
    apiVersion,
    resource: resourceForKind(kind),
    ...(o.subresource ? { subresource: o.subresource } : {}),
    ...(ns ? { namespace: ns } : {}),
    ...(name && verb !== 'list' && verb !== 'deletecollection' && verb !== 'watch' ? { name } : {}),
    ...(!deleting && !reading ? { object: manifest } : {}),
    ...(deleting ? { oldObject: manifest } : o.oldObject ? { oldObject: o.oldObject } : {}),
    ...(o.namespaceLabels ? { namespaceLabels: o.namespaceLabels } : {}),
    via: o.via ?? 'test',
    ...(verb === 'create' ? { operation: 'CREATE' } : verb === 'update' || verb === 'patch' ? { operation: 'UPDATE' } : verb === 'delete' ? { operation: 'DELETE' } : {}),
  };
}
