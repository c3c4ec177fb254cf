// Finds out which permissions of a bound a ServiceAccount holds: one SubjectAccessReview per permission,
// asked with Airlock's own credentials, cached briefly (a rollout writes many pod-bearing objects that run
// as the same ServiceAccount) and bounded in size. Used through enrichServiceAccounts before deciding.
import type { ServiceAccountPermission } from '../api/types.js';
import type { KubeClient } from '../k8s/client.js';
import type { ServiceAccountChecker } from '../policy/service-account-enrich.js';
import { normalisePermission, permissionKey } from '../policy/service-account-power.js';

export interface SubjectAccessReviewCheckerOptions {
  client: Pick<KubeClient, 'create'>;
  /** How long an answer is reused (default 30 s): RBAC changes take effect for new workloads after this. */
  ttlMs?: number;
  /** Cached answers kept at most (one per ServiceAccount and permission; default 10,000). */
  maxEntries?: number;
  timeoutMs?: number;
  now?: () => number;
}

interface SubjectAccessReviewStatus { status?: { allowed?: unknown } }

const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export class SubjectAccessReviewChecker implements ServiceAccountChecker {
  private readonly cache = new Map<string, { expires: number; allowed: Promise<boolean> }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly opts: SubjectAccessReviewCheckerOptions) {
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.maxEntries = Math.max(1, opts.maxEntries ?? 10_000);
    this.now = opts.now ?? Date.now;
  }

  async check(namespace: string, name: string, permissions: readonly ServiceAccountPermission[]): Promise<string[]> {
    const answers = await Promise.all(permissions.map(async (p) => ((await this.allowed(namespace, name, p)) ? permissionKey(p) : undefined)));
    return answers.filter((k): k is string => k !== undefined);
  }

  private allowed(namespace: string, name: string, p: ServiceAccountPermission): Promise<boolean> {
    const key = `${namespace}/${name}\u0000${permissionKey(p)}`;
    const now = this.now();
    const cached = this.cache.get(key);
    if (cached && cached.expires > now) return cached.allowed;
    this.cache.delete(key);
    while (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!); // oldest first
    const allowed = this.review(namespace, name, p);
    this.cache.set(key, { expires: now + this.ttlMs, allowed });
    // Failures are not remembered: the next request asks again.
    allowed.catch(() => { if (this.cache.get(key)?.allowed === allowed) this.cache.delete(key); });
    return allowed;
  }

  private async review(namespace: string, name: string, p: ServiceAccountPermission): Promise<boolean> {
    const n = normalisePermission(p);
    const where = n.namespace === 'same' ? namespace : n.namespace === '*' ? '' : n.namespace;
    const body = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        // The groups a ServiceAccount token authenticates with: bindings to them grant the account too.
        user: `system:serviceaccount:${namespace}:${name}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
        resourceAttributes: { verb: n.verb, group: n.group, resource: n.resource, ...(n.subresource ? { subresource: n.subresource } : {}), ...(where ? { namespace: where } : {}) },
      },
    };
    const res = await this.opts.client.create<SubjectAccessReviewStatus>(SAR_PATH, body, { timeoutMs: this.opts.timeoutMs ?? 5_000 });
    // `allowed` is the authorizer's answer, the one the API server would give the token (an evaluationError
    // beside allowed: false still means the request would be refused).
    if (typeof res?.status?.allowed !== 'boolean') throw new Error(`SubjectAccessReview for ${namespace}/${name} returned no status.allowed`);
    return res.status.allowed;
  }
}
