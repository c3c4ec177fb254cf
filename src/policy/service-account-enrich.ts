// Fills RequestAttributes.serviceAccounts before the engine decides: the engine is pure, so what a
// workload's ServiceAccount may do is found out here, through an injected checker (SubjectAccessReview in
// src/operator/service-account-checker.ts), and only for workload writes of identities whose policies ask.
import type { ServiceAccountPermission } from '../api/types.js';
import type { PolicyEngine, RequestAttributes, ServiceAccountPower } from './types.js';
import { DEFAULT_SERVICE_ACCOUNT_BOUND, permissionKey, serviceAccountsOf } from './service-account-power.js';

export interface ServiceAccountChecker {
  /** The keys (permissionKey) of those `permissions` the ServiceAccount holds; rejects when unknowable. */
  check(namespace: string, name: string, permissions: readonly ServiceAccountPermission[]): Promise<string[]>;
}

/**
 * Sets `attrs.serviceAccounts` for every ServiceAccount the request's pod specs run as, checked against the
 * bound of the identity's policies (`engine.serviceAccountBound`; the default bound when the engine cannot
 * say). Does nothing when no policy of the identity bounds ServiceAccounts or the request carries no pod
 * spec. Never throws: a failed check is recorded as `{error}`, which the detector denies.
 */
export async function enrichServiceAccounts(
  attrs: RequestAttributes,
  checker: ServiceAccountChecker,
  engine: Pick<PolicyEngine, 'serviceAccountBound'>,
): Promise<void> {
  const uses = serviceAccountsOf(attrs).filter((u) => u.namespace !== '');
  if (uses.length === 0) return;
  const permissions = engine.serviceAccountBound ? engine.serviceAccountBound(attrs.user) : [...DEFAULT_SERVICE_ACCOUNT_BOUND];
  if (permissions.length === 0) return;
  const checked = permissions.map(permissionKey);
  const found: Record<string, ServiceAccountPower> = { ...attrs.serviceAccounts };
  const unique = new Map(uses.map((u) => [u.key, u]));
  await Promise.all([...unique.values()].map(async (u) => {
    try {
      found[u.key] = { dangerous: await checker.check(u.namespace, u.name, permissions), checked };
    } catch (err) {
      found[u.key] = { error: String((err as Error)?.message ?? err).slice(0, 300) };
    }
  }));
  attrs.serviceAccounts = found;
}
