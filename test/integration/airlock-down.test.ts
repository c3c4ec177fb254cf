// "Only agents depend on Airlock", against the real kube-apiserver: the policy webhook (failurePolicy Fail)
// is registered with the matchCondition derived from the policies, then the webhook server is stopped.
// Identities a policy names (directly, impersonated the way the proxy does, by group, ServiceAccount,
// glob or claim, with hostile characters) fail closed; the admin and controllers no policy names go on
// working. Scoped to namespaces labelled for this file (webhook-fixtures), so other test files are unaffected.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Identity } from '../../src/k8s/client.js';
import { applyWebhookConfiguration, buildWebhookConfiguration, deleteWebhookConfiguration } from '../../src/operator/webhook-config.js';
import { clientFor, eventually } from '../helpers/env.js';
import { policy, startFixture, waitForWebhook, type Fixture } from './webhook-fixtures.js';

// Quotes and CEL operators: a valid user name for a policy (backslashes are refused by the policy compiler,
// so they are checked by the registration test below).
const HOSTILE = 'we"ird\'user || true || "';
const spec = (extraUsers: string[] = []) => ({
  agents: {
    users: ['agent-ci', 'bot-*', HOSTILE, ...extraUsers],
    groups: ['team:agents', 'ops-*'],
    serviceAccounts: [{ namespace: 'ci', name: 'deployer' }],
    claims: [{ claim: 'team', values: ['infra'] }],
  },
  defaultAction: 'allow' as const,
  rules: [{ name: 'no-configmaps', match: { resources: ['configmaps'], verbs: ['create'] }, action: 'deny' as const, message: 'Airlock test: agents may not create ConfigMaps' }],
});

const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' } });
// Impersonated identities get their RBAC from system:masters; no policy names that group.
const as = (username: string, groups: string[] = [], extra?: Record<string, string[]>): Identity => ({ username, groups: ['system:masters', ...groups], ...(extra ? { extra } : {}) });

describe('a stopped Airlock blocks only the agents policies name', () => {
  let fx: Fixture;
  let ns: string;
  let n = 0;
  const create = async (who?: Identity): Promise<string> => {
    const client = await clientFor('admin');
    try {
      await client.create(`/api/v1/namespaces/${ns}/configmaps`, cm(`cm-${n++}`), { ...(who ? { impersonate: who } : {}), query: { dryRun: 'All' } });
      return 'admitted';
    } catch (err) {
      return String((err as Error).message);
    }
  };

  beforeAll(async () => {
    fx = await startFixture('down', [policy(`down-${process.pid.toString(36)}`, spec())]);
    ns = await fx.namespace('apps');
    const agent = await clientFor('agent-ci');
    await waitForWebhook(fx, ns, () => agent.create(`/api/v1/namespaces/${ns}/configmaps`, cm('probe'), { query: { dryRun: 'All' } }), 'configmaps');
  }, 90000);
  afterAll(async () => { await fx?.close(); });

  it('registers one agent condition on the policy webhook; the Approval guard keeps seeing everyone', async () => {
    const cfg = await fx.admin.get<{ webhooks: { name: string; failurePolicy: string; matchConditions?: { name: string; expression: string }[] }[] }>(
      `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${fx.id}`,
    );
    const hook = cfg.webhooks.find((w) => w.name === 'policy.webhook.airlock.dev')!;
    expect(hook.failurePolicy).toBe('Fail');
    expect(hook.matchConditions!.map((c) => c.name)).toEqual(['airlock-named-agent']);
    expect(hook.matchConditions![0]!.expression).toContain('"agent-ci"');
    const guard = cfg.webhooks.find((w) => w.name === 'approvals.webhook.airlock.dev')!;
    expect(guard.matchConditions ?? []).toEqual([]);
  });

  it('while it runs: named identities (hostile names included) are judged, others are not sent', async () => {
    expect(await create(as(HOSTILE))).toContain('no-configmaps');
    expect(await create(as('bot-42'))).toContain('no-configmaps');
    expect(await create(as('system:serviceaccount:ci:deployer', ['system:serviceaccounts', 'system:serviceaccounts:ci']))).toContain('no-configmaps');
    expect(await create(as('someone', ['ops-blue']))).toContain('no-configmaps');
    expect(await create())
      .toBe('admitted');
    expect(await create(as('we"ird\'user'))).toBe('admitted'); // a prefix of a named user is another identity
  });

  it('after the webhook stops: the admin and unnamed controllers still write; every named agent fails closed', async () => {
    await fx.webhook.close();
    const agent = await clientFor('agent-ci');
    // The agent's own token, straight to kube-apiserver (around the proxy): still sent, so refused.
    const direct = await eventually(async () => {
      const msg = await agent.create(`/api/v1/namespaces/${ns}/configmaps`, cm('direct')).then(() => 'admitted', (e: unknown) => String((e as Error).message));
      return /failed calling webhook/.test(msg) ? msg : undefined;
    }, 30000, 'agent-ci fails closed');
    expect(direct).toContain('policy.webhook.airlock.dev');

    // People and controllers no policy names: not sent, so a stopped Airlock does not block them.
    const admin = await clientFor('admin');
    await expect(admin.create(`/api/v1/namespaces/${ns}/configmaps`, cm('by-admin'))).resolves.toBeTruthy();
    expect(await create(as('system:serviceaccount:argocd:argocd-application-controller', ['system:serviceaccounts', 'system:serviceaccounts:argocd']))).toBe('admitted');
    expect(await create(as('alice', ['airlock:approvers']))).toBe('admitted');
    // Look-alikes of named agents are other identities (the engine does not govern them either).
    for (const u of ['Agent-CI', 'AGENT-CI', 'agent-ci2', 'x-agent-ci', 'xbot-1', 'system:serviceaccount:ci:deployer2', 'system:serviceaccount:cix:deployer']) {
      expect([u, await create(as(u))]).toEqual([u, 'admitted']);
    }
    expect(await create(as('x', ['Team:Agents', 'team:agents2', '']))).toBe('admitted');

    // Named agents, however they arrive: impersonated the way the proxy does (same identity plus the
    // airlock.dev/proxied extra), by group, by ServiceAccount, by glob, by claim, with hostile characters.
    const named: [string, Identity][] = [
      ['agent-ci impersonated, as through the proxy', as('agent-ci', ['airlock:agents'], { 'airlock.dev/proxied': ['forged-or-not'] })],
      ['hostile username', as(HOSTILE)],
      ['user glob', as('bot-')],
      ['group', as('someone', ['team:agents'])],
      ['group glob', as('someone', ['unrelated', 'ops-red'])],
      ['ServiceAccount', as('system:serviceaccount:ci:deployer', ['system:serviceaccounts', 'system:serviceaccounts:ci'])],
      ['claim extra', as('oidc:carol', [], { 'oidc.airlock.dev/team': ['infra'] })],
    ];
    for (const [what, who] of named) {
      expect([what, await create(who)]).toEqual([what, expect.stringContaining('failed calling webhook')]);
    }
  }, 90000);

  it('a policy change updates the registration: a newly named identity fails closed too', async () => {
    expect(await create(as('late-agent'))).toBe('admitted');
    await fx.setPolicies([policy(`down-${process.pid.toString(36)}`, spec(['late-agent']))]);
    await eventually(async () => /failed calling webhook/.test(await create(as('late-agent'))), 30000, 'late-agent sent to the webhook');
    expect(await create()).toBe('admitted');
  }, 60000);

  it('the API server compiles the condition for any names a policy may hold (escaping), and many of them', async () => {
    const nasty = ['back\\slash', 'quote"', "single'", 'new\nline', 'nul\u0000', 'emoji-😀', 'sep\u2028', 'fffd-\ufffd-x', 'lone-\ud800-x', '${x}', '" || true || "', '\\" || true || \\"', 'a*b*c'];
    const many = Array.from({ length: 1500 }, (_, i) => `agent-${i}`);
    const name = `${fx.id}-escaping`;
    const opts = {
      name, url: 'https://127.0.0.1:1/validate', caBundle: fx.certs.caBundle, operatorNamespace: fx.systemNs,
      namespaceSelector: { matchLabels: { 'airlock.dev/test-scope': `${fx.id}-nobody` } }, approvalObjectSelector: { matchLabels: { 'airlock.dev/test-scope': `${fx.id}-nobody` } },
    };
    const ps = [policy('escaping', { agents: { users: [...nasty, ...many], groups: nasty, serviceAccounts: [{ namespace: 'n"s', name: 'x\\' }], claims: [{ claim: 'te"am', values: ['v'] }] } })];
    try {
      await applyWebhookConfiguration(fx.admin, opts, ps);
      const stored = await fx.admin.get<{ webhooks: { name: string; matchConditions?: { expression: string }[] }[] }>(`/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${name}`);
      const built = buildWebhookConfiguration(opts, ps) as { webhooks: { name: string; matchConditions?: { expression: string }[] }[] };
      const hook = (w: { webhooks: { name: string; matchConditions?: { expression: string }[] }[] }) => w.webhooks.find((x) => x.name === 'policy.webhook.airlock.dev')!.matchConditions![0]!.expression;
      expect(hook(stored)).toBe(hook(built));
    } finally {
      await deleteWebhookConfiguration(fx.admin, name);
    }
  });
});
