// The ServiceAccount bound against a real kube-apiserver: SubjectAccessReviewChecker (as the airlock
// identity) reports a ServiceAccount bound to cluster-admin as dangerous and a plain one as not, and the
// webhook, deciding with the default policy, denies an agent's Deployment running as the powerful one.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import type { AgentPolicy } from '../../src/api/types.js';
import { KubeApiError } from '../../src/k8s/client.js';
import { SubjectAccessReviewChecker } from '../../src/operator/service-account-checker.js';
import { DEFAULT_SERVICE_ACCOUNT_BOUND } from '../../src/policy/service-account-power.js';
import { clientFor } from '../helpers/env.js';
import { startFixture, waitForWebhook, type Fixture } from './webhook-fixtures.js';

const defaultPolicy = yaml.load(readFileSync(new URL('../../examples/default-agent-policy.yaml', import.meta.url), 'utf8')) as AgentPolicy;

const deployment = (ns: string, name: string, serviceAccountName: string) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns },
  spec: {
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { serviceAccountName, securityContext: { runAsNonRoot: true, runAsUser: 10001 }, containers: [{ name: 'c', image: 'registry.example.com/app:1.0.0' }] },
    },
  },
});

describe('ServiceAccount bound (real kube-apiserver, SubjectAccessReview, webhook)', () => {
  let fx: Fixture;
  let ns: string;
  let binding: string;
  let checker: SubjectAccessReviewChecker;
  beforeAll(async () => {
    checker = new SubjectAccessReviewChecker({ client: await clientFor('airlock') });
    fx = await startFixture('sab', [defaultPolicy], { serviceAccounts: checker });
    ns = await fx.namespace('apps');
    binding = `${ns}-powerful`;
    for (const name of ['powerful', 'plain']) {
      await fx.admin.create(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
    }
    await fx.admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: binding },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'powerful', namespace: ns }],
    });
    const agent = await clientFor('agent-ci');
    await waitForWebhook(fx, ns, () => agent.create(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment(ns, 'probe', 'powerful'), { query: { dryRun: 'All' } }), 'deployments');
  }, 120000);
  afterAll(async () => {
    await fx?.admin.delete(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${binding}`).catch(() => undefined);
    await fx?.close();
  }, 120000);

  it('reports the cluster-admin ServiceAccount as dangerous and a plain one as not', async () => {
    const powerful = await checker.check(ns, 'powerful', DEFAULT_SERVICE_ACCOUNT_BOUND);
    expect(powerful).toEqual(expect.arrayContaining(['* *.* in *', 'get secrets in same', 'create pods/exec in *', 'create pods in kube-system']));
    expect(powerful).toHaveLength(DEFAULT_SERVICE_ACCOUNT_BOUND.length);
    await expect(checker.check(ns, 'plain', DEFAULT_SERVICE_ACCOUNT_BOUND)).resolves.toEqual([]);
  });

  it('denies an agent\'s Deployment running as the powerful ServiceAccount, and admits one running as the plain one', async () => {
    const agent = await clientFor('agent-ci');
    const err = await agent.create(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment(ns, 'admin-web', 'powerful'), { query: { dryRun: 'All' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(403);
    expect((err as KubeApiError).message).toContain('no-powerful-service-accounts');
    expect((err as KubeApiError).message).toContain(`ServiceAccount ${ns}/powerful, which may * *.* cluster-wide`);
    await expect(agent.create(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment(ns, 'plain-web', 'plain'), { query: { dryRun: 'All' } })).resolves.toBeTruthy();
    // The same powerful Deployment from an identity no policy governs is admitted.
    await expect(fx.admin.create(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment(ns, 'admin-web', 'powerful'), { query: { dryRun: 'All' } })).resolves.toBeTruthy();
  });
});
