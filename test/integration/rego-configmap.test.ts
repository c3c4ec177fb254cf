// Rego policies loaded from a ConfigMap in a real kube-apiserver (RBAC enforced), and the example
// AgentPolicies accepted by the real CRD schema (including its CEL rules).
import { compileRego } from '../helpers/rego.js';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { clientFor, kubectl, testEnv, uniqueName } from '../helpers/env.js';
import { installCrds } from '../../src/operator/crds.js';
import { Engine } from '../../src/policy/engine.js';
import { configMapLoader } from '../../src/policy/configmap.js';
import type { AgentPolicy } from '../../src/api/types.js';

const root = new URL('../../', import.meta.url).pathname;
const ns = uniqueName('rego');
let wasm: Buffer;

beforeAll(async () => {
  wasm = compileRego(join(testEnv().binDir, 'opa'), 'namespace.rego', 'airlock/forbidden');
  const admin = await clientFor('admin');
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await admin.create(`/api/v1/namespaces/${ns}/configmaps`, {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'rego' }, binaryData: { 'policy.wasm': wasm.toString('base64') },
  });
  await installCrds(admin);
}, 120000);

const regoPolicy = (): AgentPolicy => ({
  apiVersion: 'airlock.dev/v1alpha1', kind: 'AgentPolicy', metadata: { name: 'rego-cm' },
  spec: {
    agents: { users: ['agent-ci'] }, defaultAction: 'allow',
    rules: [{ name: 'forbidden-namespace', rego: { entrypoint: 'airlock/forbidden', configMapRef: { namespace: ns, name: 'rego' } }, action: 'deny' }],
  },
});
const request = (namespace: string) => ({
  user: { username: 'agent-ci', groups: ['airlock:agents'] }, verb: 'get', isResourceRequest: true, apiGroup: '', apiVersion: 'v1',
  resource: 'pods', namespace, via: 'webhook' as const,
});

describe('Rego from a ConfigMap', () => {
  it('loads policy.wasm with the operator identity and evaluates it', async () => {
    const engine = new Engine({ loadConfigMap: configMapLoader(await clientFor('airlock')), metrics: false });
    const r = await engine.upsert(regoPolicy());
    expect(r).toMatchObject({ ok: true, errors: [] });
    expect(engine.decide(request('forbidden')).action).toBe('deny');
    expect(engine.decide(request('team-a')).action).toBe('allow');
  });

  it('an identity without RBAC cannot load it: upsert names spec.rules[0].rego and the policy fails closed', async () => {
    const engine = new Engine({ loadConfigMap: configMapLoader(await clientFor('mallory')), metrics: false });
    const r = await engine.upsert(regoPolicy());
    expect(r.ok).toBe(false);
    expect(r.errors[0]).toMatch(new RegExp(`^spec\\.rules\\[0\\]\\.rego: cannot load key "policy.wasm" of ConfigMap ${ns}/rego: .*403`));
    expect(engine.decide(request('team-a')).action).toBe('deny');
  });

  it('a missing key is a clear error', async () => {
    const engine = new Engine({ loadConfigMap: configMapLoader(await clientFor('airlock')), metrics: false });
    const p = regoPolicy();
    p.spec.rules![0]!.rego!.configMapRef!.key = 'other.wasm';
    expect((await engine.upsert(p)).errors).toEqual([`spec.rules[0].rego: cannot load key "other.wasm" of ConfigMap ${ns}/rego: key "other.wasm" not found in ConfigMap ${ns}/rego`]);
  });
});

describe('example policies against the real CRD', () => {
  it.each(['default-agent-policy.yaml', 'strict-production-policy.yaml'])('%s passes server-side validation (dry run)', async (file) => {
    const r = await kubectl(['apply', '--dry-run=server', '-f', join(root, 'examples', file)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = yaml.load(readFileSync(join(root, 'examples', file), 'utf8')) as AgentPolicy;
    expect(r.stdout).toContain(`agentpolicy.airlock.dev/${doc.metadata.name}`);
  });
});
