import { describe, expect, it } from '@jest/globals';
import type { AgentPolicy } from '../../../src/api/types.js';
import { buildWebhookConfiguration, deriveRules, operationsFor } from '../../../src/operator/webhook-config.js';

const pol = (spec: Partial<AgentPolicy['spec']>): AgentPolicy => ({ apiVersion: 'airlock.dev/v1alpha1', kind: 'AgentPolicy', metadata: { name: 'p' }, spec: { agents: { users: ['a'] }, defaultAction: 'allow', ...spec } });
const base = { caBundle: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n', operatorNamespace: 'airlock-system' };

describe('webhook configuration', () => {
  it('maps verbs to admission operations; reads need no registration', () => {
    expect(operationsFor(['create', 'patch', 'update'], ['deployments'])).toEqual(['CREATE', 'UPDATE']);
    expect(operationsFor(['delete', 'deletecollection'], ['pods'])).toEqual(['DELETE']);
    expect(operationsFor(['create'], ['pods/exec'])).toEqual(['CONNECT', 'CREATE']);
    expect(operationsFor(['get', 'list', 'watch'], ['secrets'])).toEqual([]);
    expect(operationsFor(undefined, ['pods'])).toEqual(['*']);
  });

  it('derives rules from the policies, merging by group and operations, and skips allow/read-only rules', () => {
    const rules = deriveRules([pol({ rules: [
      { name: 'a', action: 'deny', match: { apiGroups: ['apps'], resources: ['deployments'], verbs: ['update'] } },
      { name: 'b', action: 'hold', match: { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['patch'] } },
      { name: 'c', action: 'allow', match: { resources: ['configmaps'] } },
      { name: 'd', action: 'audit', match: { resources: ['secrets'], verbs: ['get'] } },
      { name: 'e', action: 'deny', match: { apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] } },
    ] })]);
    expect(rules).toEqual([
      { apiGroups: ['apps'], apiVersions: ['*'], resources: ['deployments', 'statefulsets'], operations: ['UPDATE'], scope: '*' },
      { apiGroups: [''], apiVersions: ['*'], resources: ['pods/exec'], operations: ['CONNECT', 'CREATE'], scope: '*' },
    ]);
  });

  it('goes broad (`*`) for a rule without match or a default action other than allow', () => {
    expect(deriveRules([pol({ rules: [{ name: 'x', action: 'deny', detectors: ['privileged'] }] })])[0]).toMatchObject({ apiGroups: ['*'], resources: ['*/*'], operations: ['*'] });
    expect(deriveRules([pol({ defaultAction: 'deny' })])).toHaveLength(1);
    expect(deriveRules([pol({ defaultAction: 'deny' })])[0]!.resources).toEqual(['*/*']);
  });

  it('builds a URL or Service client config with caBundle, exemptions, NoneOnDryRun and the approvals guard', () => {
    const cfg = buildWebhookConfiguration({ ...base, url: 'https://127.0.0.1:9443' }, [pol({ rules: [{ name: 'a', action: 'deny', match: { resources: ['pods'], verbs: ['create'] } }] })]) as { webhooks: Record<string, any>[] };
    const [policy, approvals] = cfg.webhooks;
    expect(policy!.clientConfig.url).toBe('https://127.0.0.1:9443/validate');
    expect(Buffer.from(policy!.clientConfig.caBundle, 'base64').toString()).toBe(base.caBundle);
    expect(policy).toMatchObject({ sideEffects: 'NoneOnDryRun', matchPolicy: 'Equivalent', timeoutSeconds: 10, failurePolicy: 'Fail', admissionReviewVersions: ['v1', 'v1beta1'] });
    // Only named agents are sent, so no namespace is exempt: an agent writing into kube-system or Airlock's
    // own namespace with its own credentials is judged too.
    expect(policy!.namespaceSelector.matchExpressions).toEqual([]);
    const everyone = buildWebhookConfiguration({ ...base, url: 'https://127.0.0.1:9443', exemptNamespaces: ['scratch'] }, [pol({ agents: { users: ['*'] }, rules: [{ name: 'a', action: 'deny', match: { resources: ['pods'], verbs: ['create'] } }] })]) as { webhooks: Record<string, any>[] };
    expect(everyone.webhooks[0]!.namespaceSelector.matchExpressions[0]).toEqual({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['airlock-system', 'kube-system', 'scratch'] });
    const named = buildWebhookConfiguration({ ...base, url: 'https://127.0.0.1:9443', exemptNamespaces: ['kube-system', 'scratch'] }, [pol({ rules: [{ name: 'a', action: 'deny', match: { resources: ['pods'], verbs: ['create'] } }] })]) as { webhooks: Record<string, any>[] };
    expect(named.webhooks[0]!.namespaceSelector.matchExpressions[0]).toEqual({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['scratch'] });
    expect(approvals!.name).toBe('approvals.webhook.airlock.dev');
    expect(approvals!.rules).toContainEqual({ apiGroups: ['airlock.dev'], apiVersions: ['*'], resources: ['approvals/status'], operations: ['UPDATE'], scope: '*' });
    const svc = buildWebhookConfiguration({ ...base, service: { namespace: 'airlock-system', name: 'airlock-webhook' }, failurePolicy: 'Ignore', timeoutSeconds: 30 }, []) as { webhooks: Record<string, any>[] };
    expect(svc.webhooks).toHaveLength(1); // no policies: only the Approval guard
    expect(svc.webhooks[0]!.clientConfig.service).toEqual({ namespace: 'airlock-system', name: 'airlock-webhook', path: '/validate', port: 443 });
    expect(svc.webhooks[0]!.failurePolicy).toBe('Ignore');
  });

  it('rejects invalid settings', () => {
    expect(() => buildWebhookConfiguration({ ...base, url: 'https://x', timeoutSeconds: 31 }, [])).toThrow(/1\.\.30/);
    expect(() => buildWebhookConfiguration({ ...base, url: 'http://x' }, [])).toThrow(/https/);
    expect(() => buildWebhookConfiguration({ ...base }, [])).toThrow(/exactly one/);
  });
});

describe('matchConditions keep Airlock itself out of its own webhook', () => {
  it('excludes the controller users and groups with CEL conditions', () => {
    const cfg = buildWebhookConfiguration(
      { url: 'https://127.0.0.1:9443', caBundle: 'pem', operatorNamespace: 'airlock-system', exemptUsers: ['system:serviceaccount:airlock-system:airlock'], exemptGroups: ['airlock:controllers'] },
      [],
    ) as { webhooks: { name: string; matchConditions?: { name: string; expression: string }[] }[] };
    for (const w of cfg.webhooks) {
      expect(w.matchConditions).toEqual([
        { name: 'not-airlock-controller-user', expression: '!(request.userInfo.username in ["system:serviceaccount:airlock-system:airlock"])' },
        { name: 'not-airlock-controller-group', expression: '!(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in ["airlock:controllers"]))' },
      ]);
    }
    const none = buildWebhookConfiguration({ url: 'https://127.0.0.1:9443', caBundle: 'pem', operatorNamespace: 'airlock-system' }, []) as { webhooks: Record<string, unknown>[] };
    expect(none.webhooks.every((w) => !('matchConditions' in w))).toBe(true);
  });
});
