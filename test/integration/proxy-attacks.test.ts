// Trying to get around the agent proxy, through the real proxy and a real kube-apiserver. The agent
// (agent-ci) holds cluster-admin RBAC on purpose: the proxy's policy is the only guard.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clientFor, kubectl, testEnv, uniqueName } from '../helpers/env.js';
import { rawRequest, startTestProxy, type TestProxy, agentPolicy, guardRules } from '../helpers/proxy.js';

let proxy: TestProxy;
let kc: string;
const ns = uniqueName('attack');
const policyName = uniqueName('guard');
const token = () => testEnv().tokens['agent-ci'];

function expectStatus(r: { status: number; json(): Record<string, unknown> }, code: number, reason?: string): Record<string, unknown> {
  expect(r.status).toBe(code);
  const st = r.json();
  expect(st).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code });
  if (reason) expect(st.reason).toBe(reason);
  return st;
}

const pod = (name: string, privileged = false) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns },
  spec: { containers: [{ name: 'c', image: 'registry.example/app@sha256:' + 'a'.repeat(64), ...(privileged ? { securityContext: { privileged: true } } : {}) }] },
});

beforeAll(async () => {
  proxy = await startTestProxy({ policies: [agentPolicy(policyName, guardRules)], maxBodyBytes: 256 * 1024 });
  kc = proxy.kubeconfigFor('agent-ci');
  const admin = await clientFor('admin');
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await admin.create(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 'hunter2' } });
});
afterAll(async () => {
  await proxy?.close();
  await (await clientFor('admin')).delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

describe('identity headers', () => {
  it('refuses Impersonate-User: admin with 403', async () => {
    const r = await rawRequest(proxy.url, 'GET', `/api/v1/namespaces/${ns}/secrets`, { token: token(), headers: { 'Impersonate-User': 'admin' } });
    const st = expectStatus(r, 403, 'Forbidden');
    expect(st.message).toContain('may not impersonate');
  });

  it('refuses Impersonate-Group and Impersonate-Extra too', async () => {
    for (const h of ['Impersonate-Group', 'Impersonate-Uid', 'Impersonate-Extra-scopes']) {
      const r = await rawRequest(proxy.url, 'GET', `/api/v1/namespaces/${ns}/configmaps`, { token: token(), headers: { [h]: 'system:masters' } });
      expectStatus(r, 403, 'Forbidden');
    }
  });

  it('strips X-Remote-* and X-Forwarded-*: the API server still sees the agent', async () => {
    const r = await rawRequest(proxy.url, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      token: token(),
      headers: { 'content-type': 'application/json', 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters', 'X-Forwarded-For': '10.0.0.1', 'X-Remote-Extra-Scopes': 'all' },
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
    });
    expect(r.status).toBe(201);
    const info = (r.json().status as { userInfo: { username: string; groups: string[] } }).userInfo;
    expect(info.username).toBe('agent-ci');
    expect(info.groups).not.toContain('system:masters');
  });

  it('an admin token through the proxy is not an agent: 403, and no token is 401', async () => {
    const admin = await rawRequest(proxy.url, 'GET', '/api/v1/namespaces', { token: testEnv().tokens.admin });
    const st = expectStatus(admin, 403, 'Forbidden');
    expect(st.message).toContain('not an agent identity governed by any AgentPolicy');
    const anon = await rawRequest(proxy.url, 'GET', '/api/v1/namespaces');
    expectStatus(anon, 401, 'Unauthorized');
    const bogus = await rawRequest(proxy.url, 'GET', '/api/v1/namespaces', { token: 'not-a-token' });
    expectStatus(bogus, 401, 'Unauthorized');
  });

  it('a second Authorization header cannot swap the identity', async () => {
    const r = await rawRequest(proxy.url, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      headers: { 'content-type': 'application/json', authorization: [`Bearer ${token()}`, `Bearer ${testEnv().tokens.admin}`] },
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
    });
    expect(r.status).toBe(201);
    expect((r.json().status as { userInfo: { username: string } }).userInfo.username).toBe('agent-ci');
  });
});

describe('path tricks', () => {
  it.each([
    [`/api/v1/namespaces/${ns}/secrets/../pods`],
    [`/api/v1/namespaces/${ns}/pods/../secrets`],
    [`/api/v1/namespaces/${ns}/%2e%2e/secrets`],
    [`/api/v1/namespaces/${ns}/./secrets`],
    [`/api/v1/namespaces/${ns}%2Fsecrets`],
    [`/api/v1/namespaces/${ns}/secrets%2fdb`],
    [`/api/v1//namespaces/${ns}/secrets`],
    [`/api/v1/namespaces/${ns}/secrets\\db`],
    [`/api/v1/namespaces/${ns}/secrets/db%00`],
    [`/api/v1/namespaces/${ns}/secrets/%252e%252e`],
  ])('refuses %s with 400', async (path) => {
    const r = await rawRequest(proxy.url, 'GET', path, { token: token() });
    expectStatus(r, 400, 'BadRequest');
  });

  it('percent-encoded letters are judged decoded: s%65crets is secrets (denied)', async () => {
    const r = await rawRequest(proxy.url, 'GET', `/api/v1/namespaces/${ns}/s%65crets/db`, { token: token() });
    const st = expectStatus(r, 403, 'Forbidden');
    expect(st.message).toContain(`policy ${policyName} rule no-secrets`);
  });

  it('case does not bypass a rule: Secrets passes the policy but the API server 404s it', async () => {
    const r = await rawRequest(proxy.url, 'GET', `/api/v1/namespaces/${ns}/Secrets/db`, { token: token() });
    expect(r.status).toBe(404);
    expect(r.text).not.toContain('hunter2');
    expect(r.text).not.toContain(Buffer.from('hunter2').toString('base64'));
  });

  it('secrets are denied by name, list, watch and legacy watch paths', async () => {
    for (const path of [
      `/api/v1/namespaces/${ns}/secrets/db`,
      `/api/v1/namespaces/${ns}/secrets`,
      `/api/v1/namespaces/${ns}/secrets?watch=1`,
      `/api/v1/namespaces/${ns}/secrets?watch=true&fieldSelector=metadata.name%3Ddb`,
      `/api/v1/watch/namespaces/${ns}/secrets`,
      `/api/v1/secrets?watch=true`,
    ]) {
      const r = await rawRequest(proxy.url, 'GET', path, { token: token() });
      const st = expectStatus(r, 403, 'Forbidden');
      expect(st.message).toContain('rule no-secrets');
    }
  });

  it('kubectl get secrets and kubectl get secrets --watch are refused with the policy message', async () => {
    const get = await kubectl(['-n', ns, 'get', 'secrets'], { kubeconfig: kc });
    expect(get.code).not.toBe(0);
    expect(get.stderr).toContain('agents may not touch secrets');
    const watch = await kubectl(['-n', ns, 'get', 'secrets', '--watch', '--request-timeout=5s'], { kubeconfig: kc, timeoutMs: 15000 });
    expect(watch.code).not.toBe(0);
    expect(watch.stderr).toContain('agents may not touch secrets');
  });
});

describe('bodies', () => {
  it('refuses a YAML billion-laughs body with 400 without expanding it', async () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      lines.push(`${cur}: &${cur} [${Array(9).fill('*' + prev).join(',')}]`);
    }
    const body = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  x: y\n${lines.join('\n')}\n`;
    const r = await rawRequest(proxy.url, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { token: token(), headers: { 'content-type': 'application/yaml' }, body });
    const st = expectStatus(r, 400, 'BadRequest');
    expect(st.message).toContain('alias expansion limit');
  });

  it('refuses duplicate keys in YAML and JSON (parser differential)', async () => {
    const yamlBody = 'apiVersion: v1\nkind: Pod\nmetadata: {name: dup}\nspec:\n  containers: [{name: c, image: x, securityContext: {privileged: false, privileged: true}}]\n';
    const y = await rawRequest(proxy.url, 'POST', `/api/v1/namespaces/${ns}/pods`, { token: token(), headers: { 'content-type': 'application/yaml' }, body: yamlBody });
    expectStatus(y, 400, 'BadRequest');
    const jsonBody = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"dup"},"spec":{"containers":[{"name":"c","image":"x","securityContext":{"privileged":false,"privileged":true}}]}}';
    const j = await rawRequest(proxy.url, 'POST', `/api/v1/namespaces/${ns}/pods`, { token: token(), headers: { 'content-type': 'application/json' }, body: jsonBody });
    const st = expectStatus(j, 400, 'BadRequest');
    expect(st.message).toContain('duplicate key');
  });

  it('accepts YAML, judges it and forwards it as JSON', async () => {
    const name = uniqueName('yaml');
    const body = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  on: "yes"\n`;
    const r = await rawRequest(proxy.url, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { token: token(), headers: { 'content-type': 'application/yaml' }, body });
    expect(r.status).toBe(201);
    expect(r.json()).toMatchObject({ metadata: { name, annotations: { 'airlock.dev/agent': 'agent-ci' } }, data: { on: 'yes' } });
    const yamlPriv = `apiVersion: v1\nkind: Pod\nmetadata: {name: ${uniqueName('yp')}}\nspec:\n  containers:\n  - name: c\n    image: x\n    securityContext: {privileged: true}\n`;
    const denied = await rawRequest(proxy.url, 'POST', `/api/v1/namespaces/${ns}/pods`, { token: token(), headers: { 'content-type': 'application/yaml' }, body: yamlPriv });
    expect(expectStatus(denied, 403, 'Forbidden').message).toContain('rule no-privileged');
  });

  it('refuses CBOR, unknown content types and protobuf outside creates/updates with 415', async () => {
    const cases: [string, string, string][] = [
      ['POST', `/api/v1/namespaces/${ns}/configmaps`, 'application/cbor'],
      ['POST', `/api/v1/namespaces/${ns}/configmaps`, 'text/plain'],
      ['POST', `/api/v1/namespaces/${ns}/configmaps`, ''],
      ['PATCH', `/api/v1/namespaces/${ns}/configmaps/x?fieldManager=t`, 'application/apply-patch+cbor'],
      ['PATCH', `/api/v1/namespaces/${ns}/configmaps/x`, 'application/vnd.kubernetes.protobuf'],
    ];
    for (const [method, path, ct] of cases) {
      const r = await rawRequest(proxy.url, method, path, { token: token(), headers: ct ? { 'content-type': ct } : {}, body: Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x02]) });
      expectStatus(r, 415, 'UnsupportedMediaType');
    }
    // Protobuf DeleteOptions are read exactly (helm uninstall sends them); a cut-off one is a 400.
    const cut = await rawRequest(proxy.url, 'DELETE', `/api/v1/namespaces/${ns}/configmaps/x`, { token: token(), headers: { 'content-type': 'application/vnd.kubernetes.protobuf' }, body: Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x02]) });
    expect(expectStatus(cut, 400, 'BadRequest').message).toContain('protobuf DeleteOptions');
  });

  it('protobuf creates are decoded by a dry run and judged: garbage is refused, kubectl run --privileged is denied', async () => {
    const garbage = await rawRequest(proxy.url, 'POST', `/api/v1/namespaces/${ns}/configmaps`, {
      token: token(),
      headers: { 'content-type': 'application/vnd.kubernetes.protobuf' },
      body: Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x02, 0xff, 0xff]),
    });
    expect(garbage.status).toBeGreaterThanOrEqual(400);
    expect(garbage.status).toBeLessThan(500);
    expect(garbage.json()).toMatchObject({ kind: 'Status', status: 'Failure' });
    const name = uniqueName('run');
    const run = await kubectl(['-n', ns, 'run', name, '--image=registry.example/app:1', '--privileged'], { kubeconfig: kc });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('privileged pods are not allowed');
    const secret = await kubectl(['-n', ns, 'create', 'secret', 'generic', uniqueName('s'), '--from-literal=a=b'], { kubeconfig: kc });
    expect(secret.code).not.toBe(0);
    expect(secret.stderr).toContain('agents may not touch secrets');
    const benign = await kubectl(['-n', ns, 'run', name, '--image=registry.example/app:1'], { kubeconfig: kc });
    expect(benign.stderr).toBe('');
    const live = await (await clientFor('admin')).get<{ metadata: { annotations: Record<string, string> } }>(`/api/v1/namespaces/${ns}/pods/${name}`);
    expect(live.metadata.annotations['airlock.dev/agent']).toBe('agent-ci');
  });

  it('refuses oversize bodies with 413, streamed or declared', async () => {
    const big = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { x: 'y'.repeat(1024 * 1024) } });
    const chunked = await rawRequest(proxy.url, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { token: token(), headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: big, chunked: true });
    expectStatus(chunked, 413, 'RequestEntityTooLarge');
    const declared = await rawRequest(proxy.url, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { token: token(), headers: { 'content-type': 'application/json' }, body: big });
    expectStatus(declared, 413, 'RequestEntityTooLarge');
  });
});

const deployment = (name: string, privileged = false) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: {
    replicas: 0,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: pod(name, privileged).spec },
  },
});

async function liveTemplate(name: string): Promise<{ annotations: Record<string, string>; securityContext: unknown }> {
  const d = await (await clientFor('admin')).get<{ metadata: { annotations: Record<string, string> }; spec: { template: { spec: { containers: { securityContext?: unknown }[] } } } }>(
    `/apis/apps/v1/namespaces/${ns}/deployments/${name}`,
  );
  return { annotations: d.metadata.annotations, securityContext: d.spec.template.spec.containers[0]!.securityContext };
}

describe('writes are judged on the resulting object', () => {
  it('merge, strategic and json patches that make a harmless deployment privileged are denied (dry-run result judged)', async () => {
    const name = uniqueName('harmless');
    const created = await kubectl(['apply', '-f', '-'], { kubeconfig: kc, input: JSON.stringify(deployment(name)) });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const image = pod(name).spec.containers[0]!.image;
    const patch = JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'c', image, securityContext: { privileged: true } }] } } } });
    for (const type of ['merge', 'strategic']) {
      const r = await kubectl(['-n', ns, 'patch', 'deployment', name, '--type', type, '-p', patch], { kubeconfig: kc });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('privileged pods are not allowed');
    }
    const jp = JSON.stringify([{ op: 'add', path: '/spec/template/spec/containers/0/securityContext', value: { privileged: true } }]);
    const j = await kubectl(['-n', ns, 'patch', 'deployment', name, '--type', 'json', '-p', jp], { kubeconfig: kc });
    expect(j.code).not.toBe(0);
    expect(j.stderr).toContain(`policy ${policyName} rule no-privileged`);
    const live = await liveTemplate(name);
    expect(live.securityContext).toBeUndefined();
    expect(live.annotations['airlock.dev/agent']).toBe('agent-ci');
    // A benign patch passes, and the provenance annotation is kept.
    const ok = await kubectl(['-n', ns, 'patch', 'deployment', name, '--type', 'json', '-p', JSON.stringify([{ op: 'add', path: '/metadata/labels', value: { tier: 'web' } }])], { kubeconfig: kc });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
  });

  it('server-side apply that makes a deployment privileged is denied; a benign apply passes', async () => {
    const name = uniqueName('ssa');
    const ok = await kubectl(['apply', '--server-side', '-f', '-'], { kubeconfig: kc, input: JSON.stringify(deployment(name)) });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const bad = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], { kubeconfig: kc, input: JSON.stringify(deployment(name, true)) });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('privileged pods are not allowed');
    const live = await liveTemplate(name);
    expect(live.securityContext).toBeUndefined();
    expect(live.annotations['airlock.dev/agent']).toBe('agent-ci');
  });

  it('a PUT (kubectl replace) to privileged is denied', async () => {
    const name = uniqueName('put');
    const admin = await clientFor('admin');
    await admin.create(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment(name));
    const live = await admin.get<{ metadata: Record<string, unknown>; spec: { template: { spec: { containers: Record<string, unknown>[] } } } }>(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`);
    delete live.metadata.resourceVersion;
    live.spec.template.spec.containers[0]!.securityContext = { privileged: true };
    const r = await kubectl(['replace', '-f', '-'], { kubeconfig: kc, input: JSON.stringify(live) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('privileged pods are not allowed');
    expect((await liveTemplate(name)).securityContext).toBeUndefined();
  });
});

describe('exec', () => {
  it('kubectl exec is refused when the policy denies pods/exec (the upgrade request is judged)', async () => {
    const name = uniqueName('ex');
    await (await clientFor('admin')).create(`/api/v1/namespaces/${ns}/pods`, pod(name));
    const r = await kubectl(['-n', ns, 'exec', name, '--', 'sh', '-c', 'id'], { kubeconfig: kc, timeoutMs: 20000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no shells in pods');
  });

  it.each([['POST'], ['GET']])('a raw %s upgrade to pods/exec gets a 403 Status and no 101', async (method) => {
    const r = await rawRequest(proxy.url, method, `/api/v1/namespaces/${ns}/pods/x/exec?command=id&stdout=true`, {
      token: token(),
      headers: { connection: 'Upgrade', upgrade: method === 'GET' ? 'websocket' : 'SPDY/3.1', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13', 'sec-websocket-protocol': 'v5.channel.k8s.io', 'x-stream-protocol-version': 'v4.channel.k8s.io' },
    });
    const st = expectStatus(r, 403, 'Forbidden');
    expect(st.message).toContain('rule no-exec');
  });
});
