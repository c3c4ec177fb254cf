// The webhook fills in what agents' workload ServiceAccounts may do before deciding (enrichServiceAccounts),
// with the real engine and the default policy; a fake checker stands in for SubjectAccessReview.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import type { AgentPolicy, ServiceAccountPermission } from '../../../src/api/types.js';
import { createCA, createServingCert } from '../../../src/operator/certs.js';
import { Engine } from '../../../src/policy/engine.js';
import type { ServiceAccountChecker } from '../../../src/policy/service-account-enrich.js';
import type { AdmissionRequest } from '../../../src/webhook/admission.js';
import { startWebhook, type WebhookServer } from '../../../src/webhook/server.js';

const ca = createCA('t', 3600e3);
const leaf = createServingCert(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], lifetimeMs: 3600e3 });
const defaultPolicy = yaml.load(readFileSync(new URL('../../../examples/default-agent-policy.yaml', import.meta.url), 'utf8')) as AgentPolicy;

class Checker implements ServiceAccountChecker {
  asked: string[] = [];
  async check(namespace: string, name: string, _p: readonly ServiceAccountPermission[]): Promise<string[]> {
    this.asked.push(`${namespace}/${name}`);
    return name === 'admin' ? ['* *.* in *'] : [];
  }
}

const deployment = (user: string, serviceAccountName: string): AdmissionRequest => ({
  uid: 'u', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' },
  namespace: 'team-a', name: 'web', operation: 'CREATE', userInfo: { username: user, groups: ['system:authenticated'] },
  object: {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'team-a' },
    spec: { selector: {}, template: { spec: { serviceAccountName, securityContext: { runAsNonRoot: true }, containers: [{ name: 'c', image: 'ghcr.io/example/web:1.0.0' }] } } },
  },
} as AdmissionRequest);

describe('webhook ServiceAccount enrichment', () => {
  const checker = new Checker();
  let wh: WebhookServer;
  let bare: WebhookServer;
  beforeAll(async () => {
    const engine = new Engine({ metrics: false });
    const res = await engine.upsert(defaultPolicy);
    expect(res.errors).toEqual([]);
    const base = { engine, tls: { cert: leaf.certPem, key: leaf.keyPem } };
    wh = await startWebhook({ ...base, serviceAccounts: checker });
    bare = await startWebhook(base);
  });
  afterAll(async () => { await wh?.close(); await bare?.close(); });

  it('denies an agent workload running as a powerful ServiceAccount and admits a plain one', async () => {
    const denied = await wh.review(deployment('agent-ci', 'admin'));
    expect(denied.allowed).toBe(false);
    expect(denied.status?.message).toContain('no-powerful-service-accounts');
    expect(denied.status?.message).toContain('team-a/admin, which may * *.* cluster-wide');
    expect((await wh.review(deployment('agent-ci', 'web'))).allowed).toBe(true);
    expect(checker.asked).toEqual(['team-a/admin', 'team-a/web']);
  });

  it('does not check for identities that are not agents', async () => {
    checker.asked = [];
    expect((await wh.review(deployment('alice', 'admin'))).allowed).toBe(true);
    expect(checker.asked).toEqual([]);
  });

  it('without a checker, agents\' workloads are denied (permissions unknown)', async () => {
    const r = await bare.review(deployment('agent-ci', 'web'));
    expect(r.allowed).toBe(false);
    expect(r.status?.message).toContain('were not checked before deciding');
  });
});
