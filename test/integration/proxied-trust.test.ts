// The proxied-request exemption against a real kube-apiserver. An identity that can impersonate the agent
// (here the agent itself: its test RBAC is cluster-admin) and knows an airlock.dev/proxied value it saw
// (kubectl auth whoami through the proxy shows it) goes DIRECTLY to kube-apiserver, impersonating the
// agent with that extra: the webhook must judge, and deny, its privileged Pod. A token signed for that
// very create is exempt, which shows the mechanism (groups added on impersonation, uid, generated names)
// matches what kube-apiserver really sends.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { KubeApiError, type Identity } from '../../src/k8s/client.js';
import { PROXIED_EXTRA_KEY, proxiedSigner, type ProxiedRequest } from '../../src/identity/proxied-token.js';
import { clientFor } from '../helpers/env.js';
import { policy, startFixture, waitForWebhook, type Fixture } from './webhook-fixtures.js';

const key = randomBytes(32);
const sign = proxiedSigner(key);
// The identity the proxy would impersonate for agent-ci (as TokenReview reports it).
const agentUser = { username: 'agent-ci', uid: 'uid-agent-ci', groups: ['airlock:agents'] };
const asAgentWith = (token: string): Identity => ({ ...agentUser, extra: { [PROXIED_EXTRA_KEY]: [token] } });
const privPod = (ns: string, meta: { name?: string; generateName?: string }) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { ...meta, namespace: ns },
  spec: { containers: [{ name: 'main', image: 'registry.example.com/app@sha256:' + 'a'.repeat(64), securityContext: { privileged: true } }] },
});

describe('airlock.dev/proxied: per-request tokens against a real kube-apiserver', () => {
  let fx: Fixture;
  let ns: string;
  const podCreate = (name?: string, over: Partial<ProxiedRequest> = {}): ProxiedRequest => ({
    user: agentUser, verb: 'create', apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: ns, ...(name ? { name } : {}), ...over,
  });
  beforeAll(async () => {
    fx = await startFixture('pt', [
      policy('pt-' + process.pid.toString(36), {
        agents: { users: ['agent-ci'] },
        defaultAction: 'allow',
        rules: [{ name: 'no-privileged', match: { resources: ['pods'], verbs: ['create', 'update'] }, detectors: ['privileged'], action: 'deny' }],
      }),
    ], { proxiedKey: key });
    ns = await fx.namespace('apps');
    const agent = await clientFor('agent-ci');
    await waitForWebhook(fx, ns, () => agent.create(`/api/v1/namespaces/${ns}/pods`, privPod(ns, { name: 'probe' }), { query: { dryRun: 'All' } }), 'pods');
  }, 90000);
  afterAll(async () => { await fx?.close(); });

  it('a token the agent saw (its whoami) does not exempt a privileged Pod sent directly with impersonation', async () => {
    const agent = await clientFor('agent-ci');
    const seen = sign({ user: agentUser, verb: 'create', apiGroup: 'authentication.k8s.io', apiVersion: 'v1', resource: 'selfsubjectreviews' });
    // What `kubectl auth whoami -o json` through the proxy shows: the value is no secret.
    const review = await agent.create<{ status: { userInfo: { username: string; extra?: Record<string, string[]> } } }>(
      '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }, { impersonate: asAgentWith(seen) });
    expect(review.status.userInfo.username).toBe('agent-ci');
    expect(review.status.userInfo.extra?.[PROXIED_EXTRA_KEY]).toEqual([seen]);

    const err = await agent.create(`/api/v1/namespaces/${ns}/pods`, privPod(ns, { name: 'pwn' }), { impersonate: asAgentWith(seen) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(403);
    expect((err as KubeApiError).message).toContain('no-privileged');
    expect((err as KubeApiError).message).toContain('securityContext.privileged');
  });

  it('a token signed for another Pod, or for a dry run only, is judged too', async () => {
    const agent = await clientFor('agent-ci');
    for (const token of [sign(podCreate('harmless')), sign(podCreate('pwn2', { dryRun: true })), sign(podCreate('pwn2', { namespace: 'default' }))]) {
      const err = (await agent.create(`/api/v1/namespaces/${ns}/pods`, privPod(ns, { name: 'pwn2' }), { impersonate: asAgentWith(token) }).catch((e: unknown) => e)) as KubeApiError;
      expect(err.status).toBe(403);
      expect(err.message).toContain('no-privileged');
    }
  });

  it('a token signed for exactly this create is exempt (the proxy already judged it)', async () => {
    const agent = await clientFor('agent-ci');
    const created = await agent.create<{ metadata: { name: string } }>(`/api/v1/namespaces/${ns}/pods`, privPod(ns, { name: 'judged-by-proxy' }), { impersonate: asAgentWith(sign(podCreate('judged-by-proxy'))) });
    expect(created.metadata.name).toBe('judged-by-proxy');
    // A dry run signed as a dry run is exempt as well.
    await expect(agent.create(`/api/v1/namespaces/${ns}/pods`, privPod(ns, { name: 'dry' }), { query: { dryRun: 'All' }, impersonate: asAgentWith(sign(podCreate('dry', { dryRun: true }))) })).resolves.toBeTruthy();
  });

  it('generateName creates verify with an empty signed name; that token does not exempt a named create', async () => {
    const agent = await clientFor('agent-ci');
    const token = sign(podCreate(undefined));
    const created = await agent.create<{ metadata: { name: string } }>(`/api/v1/namespaces/${ns}/pods`, privPod(ns, { generateName: 'gen-' }), { impersonate: asAgentWith(token) });
    expect(created.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
    const err = (await agent.create(`/api/v1/namespaces/${ns}/pods`, privPod(ns, { name: 'named' }), { impersonate: asAgentWith(token) }).catch((e: unknown) => e)) as KubeApiError;
    expect(err.status).toBe(403);
  });
});
