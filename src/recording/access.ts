// Access to recordings follows Kubernetes RBAC: the CLI asks the API server (SelfSubjectAccessReview)
// whether the caller may `get` the virtual resource `recordings` in group `airlock.dev`. RBAC rules may
// name resources that do not exist, so a ClusterRole like this grants it:
//   rules: [{ apiGroups: ["airlock.dev"], resources: ["recordings"], verbs: ["get", "list"] }]
import type { KubeClient } from '../k8s/client.js';

export const RECORDINGS_GROUP = 'airlock.dev';
export const RECORDINGS_RESOURCE = 'recordings';

export interface AccessResult {
  allowed: boolean;
  reason?: string;
}

export async function checkRecordingAccess(client: KubeClient, verb = 'get'): Promise<AccessResult> {
  const review = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { group: RECORDINGS_GROUP, resource: RECORDINGS_RESOURCE, verb } },
  };
  const res = await client.create<{ status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string } }>(
    '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    review,
  );
  const st = res.status ?? {};
  return { allowed: st.allowed === true && st.denied !== true, reason: st.reason || st.evaluationError || undefined };
}
