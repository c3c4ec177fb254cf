// REST paths and labels of Approval objects (cluster-scoped, airlock.dev/v1alpha1).
export const APPROVALS_PATH = '/apis/airlock.dev/v1alpha1/approvals';
export const FINGERPRINT_LABEL = 'airlock.dev/fingerprint';
export const approvalPath = (name: string): string => `${APPROVALS_PATH}/${encodeURIComponent(name)}`;
