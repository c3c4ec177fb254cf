// The Helm chart against the real control plane: helm lint, helm template (defaults and every option), a
// server-side dry-run apply of everything it renders (CRDs really installed first), and the RBAC it grants
// really applied and probed with the operator's own ServiceAccount token.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { clientFor, kubectl, run, testEnv, uniqueName } from '../helpers/env.js';
import { parseConfig, type Config } from '../../src/main/config.js';
import { KubeApiError, KubeClient } from '../../src/k8s/client.js';

const CHART = resolve(process.cwd(), 'charts/airlock');
const FULL = join(CHART, 'ci/full-values.yaml');

interface K8sObject { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any }
interface PolicyRule { apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; verbs: string[] }

let helm: string;
let kubeVersion: string;
let dir: string;
const namespaces: string[] = [];
const releases: string[] = [];

async function helmRun(args: string[]) {
  return run(helm, args, { timeoutMs: 120000 });
}

async function template(release: string, ns: string, extra: string[] = []): Promise<K8sObject[]> {
  const r = await helmRun(['template', release, CHART, '-n', ns, '--kube-version', kubeVersion, ...extra]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return (yaml.loadAll(r.stdout) as (K8sObject | null)[]).filter((d): d is K8sObject => !!d);
}

/** Parses the Deployment's container args with the process's own flag parser, config file included. */
function processConfig(docs: K8sObject[]): Config {
  const dep = docs.find((d) => d.kind === 'Deployment')!;
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.endsWith('-config'))!;
  const file = join(dir, `${dep.metadata.name}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, cm.data['config.yaml']);
  const args = (dep.spec.template.spec.containers[0].args as string[]).map((a) => (a.startsWith('--config=') ? `--config=${file}` : a));
  return parseConfig(args);
}

async function ensureNamespace(name: string): Promise<void> {
  const admin = await clientFor('admin');
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }).catch((e: { status?: number }) => {
    if (e.status !== 409) throw e;
  });
  namespaces.push(name);
}

async function dryRunApply(docs: K8sObject[]): Promise<string> {
  const input = docs.map((d) => yaml.dump(d)).join('---\n');
  const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input, timeoutMs: 60000 });
  if (r.code !== 0) throw new Error(`server dry-run failed:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const STUB_CRDS = ['servicemonitors', 'prometheusrules'].map((plural) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.monitoring.coreos.com` },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: { plural, singular: plural.slice(0, -1), kind: plural === 'servicemonitors' ? 'ServiceMonitor' : 'PrometheusRule', listKind: plural === 'servicemonitors' ? 'ServiceMonitorList' : 'PrometheusRuleList' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
}));

beforeAll(async () => {
  helm = execFileSync('bash', [resolve(process.cwd(), 'hack/build-helm.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const v = await (await clientFor('admin')).get<{ gitVersion: string }>('/version');
  kubeVersion = v.gitVersion;
  dir = mkdtempSync(join(tmpdir(), 'airlock-chart-'));
  // CRDs for real, as `helm install` does with crds/, plus stand-ins for the Prometheus Operator's CRDs.
  // Applied as the operator's field manager: identical to what the operator applies, so a no-op (same
  // resourceVersion) when the operator or another test already installed them.
  const crds = await kubectl(['apply', '--server-side', '--field-manager=airlock-operator', '-f', join(CHART, 'crds')]);
  if (crds.code !== 0) throw new Error(`applying the chart's CRDs failed: ${crds.stderr}`);
  const stubs = await kubectl(['apply', '--server-side', '--field-manager=airlock-chart-test', '-f', '-'], { input: STUB_CRDS.map((c) => JSON.stringify(c)).join('\n') });
  if (stubs.code !== 0) throw new Error(`applying the monitoring stub CRDs failed: ${stubs.stderr}`);
  const established = await kubectl(['wait', '--for=condition=Established', '--timeout=30s',
    'crd/agentpolicies.airlock.dev', 'crd/approvals.airlock.dev', 'crd/budgetusages.airlock.dev', 'crd/servicemonitors.monitoring.coreos.com', 'crd/prometheusrules.monitoring.coreos.com']);
  expect(established.code).toBe(0);
}, 300000);

afterAll(async () => {
  for (const rel of releases) {
    await kubectl(['delete', 'clusterrole,clusterrolebinding', '-l', `app.kubernetes.io/instance=${rel}`, '--ignore-not-found']);
  }
  for (const ns of namespaces) await kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('helm lint', () => {
  it.each([['defaults', []], ['every option', ['-f', FULL]]])('is clean with %s', async (_what, extra) => {
    const r = await helmRun(['lint', CHART, '--strict', '--kube-version', kubeVersion, ...(extra as string[])]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });
});

describe('helm template + kubectl apply --dry-run=server', () => {
  it('default values: every object is accepted by the API server', async () => {
    const ns = uniqueName('airlock');
    const rel = uniqueName('rel');
    await ensureNamespace(ns);
    const docs = await template(rel, ns);
    const kinds = docs.map((d) => d.kind).sort();
    expect(kinds).toEqual(expect.arrayContaining(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'NetworkPolicy',
      'PodDisruptionBudget', 'Role', 'RoleBinding', 'Secret', 'Service', 'ServiceAccount', 'ValidatingWebhookConfiguration']));
    expect(kinds).not.toContain('ServiceMonitor');
    expect(kinds).not.toContain('PersistentVolumeClaim');
    const out = await dryRunApply(docs);
    expect(out.trim().split('\n').filter((l) => l.endsWith('(server dry run)'))).toHaveLength(docs.length);

    const dep = docs.find((d) => d.kind === 'Deployment')!;
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(dep.spec.replicas).toBe(2);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(c.args).toEqual(expect.arrayContaining([`--namespace=${ns}`, '--proxy-port=8443', '--webhook-port=9443', '--metrics-port=8080',
      '--failure-policy=Fail', '--webhook-timeout-seconds=10', `--exempt-namespaces=${ns},kube-system`, '--recording-dir=/var/lib/airlock/recordings']));
    expect(c.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toEqual(expect.arrayContaining(['/tmp', '/var/lib/airlock/recordings']));
    expect(docs.find((d) => d.kind === 'PodDisruptionBudget')!.spec.minAvailable).toBe(1);

    // The process accepts the rendered flags and config file, and reads what the chart meant.
    const cfg = processConfig(docs);
    expect(cfg).toMatchObject({ namespace: ns, leaderElect: true, leaseName: 'airlock-controller', healthPort: 8081, metricsPort: 8080 });
    expect(cfg.proxy).toMatchObject({ enabled: true, port: 8443, certFile: '/etc/airlock/proxy-tls/tls.crt', tokenReview: true, oidc: [] });
    expect(cfg.webhook).toMatchObject({ port: 9443, serviceName: `${rel}-airlock-webhook`, failurePolicy: 'Fail', timeoutSeconds: 10, certSecretName: `${rel}-airlock-webhook-tls` });
    expect(cfg.webhook.exemptNamespaces).toEqual([ns, 'kube-system']);
    expect(cfg.controllerUsers).toEqual([`system:serviceaccount:${ns}:${rel}-airlock`]);

    // The generated proxy certificate covers the Service names and is signed by the CA it ships.
    const secret = docs.find((d) => d.kind === 'Secret')!;
    const cert = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
    const ca = new X509Certificate(Buffer.from(secret.data['ca.crt'], 'base64'));
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkHost(`${rel}-airlock-proxy.${ns}.svc`)).toBeTruthy();
  });

  it('every option: objects (including ServiceMonitor, PrometheusRule, PVC and the default AgentPolicy) are accepted', async () => {
    const ns = uniqueName('airlock');
    const rel = uniqueName('rel');
    for (const n of [ns, 'agents-a', 'agents-b', 'airlock-policies']) await ensureNamespace(n);
    const docs = await template(rel, ns, ['-f', FULL]);
    const kinds = new Set(docs.map((d) => d.kind));
    for (const k of ['ServiceMonitor', 'PrometheusRule', 'PersistentVolumeClaim', 'AgentPolicy']) expect(kinds).toContain(k);
    const out = await dryRunApply(docs);
    expect(out.trim().split('\n').filter((l) => l.endsWith('(server dry run)'))).toHaveLength(docs.length);

    const rule = docs.find((d) => d.kind === 'PrometheusRule')!;
    const shipped = yaml.load(await import('node:fs').then((fs) => fs.readFileSync(resolve(process.cwd(), 'deploy/prometheus/airlock-rules.yaml'), 'utf8')));
    expect(rule.spec).toEqual(shipped);
    const dep = docs.find((d) => d.kind === 'Deployment')!;
    expect(dep.spec.replicas).toBe(3);
    expect(dep.spec.template.spec.containers[0].image).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(dep.spec.template.spec.topologySpreadConstraints[0].labelSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'airlock', 'app.kubernetes.io/instance': rel });
    const cfg = processConfig(docs);
    expect(cfg.proxy.oidc).toEqual([
      { issuerURL: 'https://token.actions.githubusercontent.com', audience: 'airlock', usernameClaim: 'sub', usernamePrefix: 'oidc:', groupsClaim: 'repository_owner', groupsPrefix: 'oidc:' },
      { issuerURL: 'https://idp.internal.example.com/realms/agents', audience: 'airlock-proxy', usernameClaim: 'preferred_username', groupsClaim: 'groups', caFile: '/etc/airlock/oidc-ca/1/ca.crt' },
    ]);
    expect(cfg).toMatchObject({ leaseName: 'airlock-leader', metricsPort: 9090, logLevel: 'debug' });
    expect(cfg.proxy).toMatchObject({ maxBodyBytes: 1048576, clientCAFile: '/etc/airlock/proxy-client-ca/ca.crt' });
    expect(cfg.webhook).toMatchObject({ timeoutSeconds: 5, certSecretName: 'airlock-webhook-serving' });
    expect(cfg.webhook.exemptNamespaces).toEqual([ns, 'kube-system', 'cert-manager', 'monitoring']);
    expect(cfg.recording).toMatchObject({ fsync: 'interval', auditLog: '/var/lib/airlock/recordings/audit.jsonl' });
  });

  it('proxy.readExecTargetValues=false takes away the proxy\'s reads of Secrets, ConfigMaps and Pods', async () => {
    const off = await helmRun(['template', 'x', CHART, '--kube-version', kubeVersion, '--set', 'proxy.readExecTargetValues=false']);
    expect(off.code).toBe(0);
    const operatorRole = (yaml.loadAll(off.stdout) as { kind?: string; metadata?: { name?: string }; rules?: { resources?: string[]; verbs?: string[] }[] }[])
      .find((d) => d?.kind === 'ClusterRole' && d.metadata?.name === 'x-airlock-operator');
    expect(operatorRole).toBeDefined();
    expect(operatorRole!.rules!.some((r) => r.resources?.some((x) => x === 'secrets' || x === 'pods'))).toBe(false);
  });

  it('replicas 1 drops the PodDisruptionBudget; unsafe combinations fail with a clear message', async () => {
    const docs = await template('one', 'airlock-system', ['--set', 'replicas=1']);
    expect(docs.map((d) => d.kind)).not.toContain('PodDisruptionBudget');
    const rwo = await helmRun(['template', 'x', CHART, '--kube-version', kubeVersion, '--set', 'recording.persistence.enabled=true', '--set', 'recording.persistence.accessModes={ReadWriteOnce}']);
    expect(rwo.code).not.toBe(0);
    expect(rwo.stderr).toContain('ReadWriteMany is required when replicas > 1');
    const noLeader = await helmRun(['template', 'x', CHART, '--kube-version', kubeVersion, '--set', 'leaderElection.enabled=false']);
    expect(noLeader.code).not.toBe(0);
    expect(noLeader.stderr).toContain('leaderElection.enabled: must be true when replicas > 1');
    const masters = await helmRun(['template', 'x', CHART, '--kube-version', kubeVersion, '--set', 'agents.groups={system:masters}']);
    expect(masters.code).not.toBe(0);
    expect(masters.stderr).toContain('/agents/groups/0');
  });
});

describe('RBAC really applied, probed with the operator ServiceAccount token', () => {
  let ns: string;
  let other: string;
  let rel: string;
  let kubeconfig: string;
  const as = (args: string[]) => kubectl(args, { kubeconfig });
  const can = async (args: string[]) => (await as(['auth', 'can-i', ...args])).stdout.trim();

  beforeAll(async () => {
    ns = uniqueName('airlock');
    other = uniqueName('elsewhere');
    rel = uniqueName('rel');
    releases.push(rel);
    await ensureNamespace(ns);
    await ensureNamespace(other);
    const values = join(dir, `${rel}.yaml`);
    writeFileSync(values, yaml.dump({ agents: { users: ['agent-ci'], groups: ['airlock:agents'], serviceAccounts: [{ namespace: ns, name: 'bot' }] } }));
    const docs = (await template(rel, ns, ['-f', values])).filter((d) => /^(ServiceAccount|ClusterRole|ClusterRoleBinding|Role|RoleBinding)$/.test(d.kind));
    const applied = await kubectl(['apply', '-f', '-'], { input: docs.map((d) => yaml.dump(d)).join('---\n') });
    if (applied.code !== 0) throw new Error(`applying the chart's RBAC failed: ${applied.stderr}`);
    for (const n of [ns, other]) expect((await kubectl(['-n', n, 'create', 'serviceaccount', 'bot'])).code).toBe(0);
    const token = await kubectl(['-n', ns, 'create', 'token', `${rel}-airlock`, '--duration=10m']);
    expect(token.code).toBe(0);
    kubeconfig = join(dir, `${rel}.kubeconfig`);
    const env = testEnv();
    writeFileSync(kubeconfig, yaml.dump({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'op',
      clusters: [{ name: 'c', cluster: { server: env.server, 'certificate-authority': env.caFile } }],
      users: [{ name: 'op', user: { token: token.stdout.trim() } }],
      contexts: [{ name: 'op', context: { cluster: 'c', user: 'op' } }],
    }));
  }, 60000);

  it('never renders an impersonation rule without resourceNames for users, groups or serviceaccounts', async () => {
    const docs = await template(rel, ns, ['--set-json', 'agents.groups=[]']);
    const imp = docs.filter((d) => /Role$/.test(d.kind) && d.metadata.name.endsWith('impersonate-agents'));
    const rules = imp.flatMap((d) => (d.rules ?? []) as PolicyRule[]);
    for (const r of rules.filter((x) => x.resources?.some((res) => ['users', 'groups', 'serviceaccounts'].includes(res)))) {
      expect(r.resourceNames?.length).toBeGreaterThan(0);
    }
    expect(rules.some((r) => r.resources?.includes('groups'))).toBe(false);
    // No rule anywhere grants wildcards.
    for (const d of docs.filter((x) => /Role$/.test(x.kind))) {
      for (const r of (d.rules ?? []) as PolicyRule[]) {
        expect(r.verbs).not.toContain('*');
        expect(r.resources ?? []).not.toContain('*');
      }
    }
  });

  it('impersonates listed agents only', async () => {
    const ok = await as(['get', 'namespace', ns, '--as', 'agent-ci', '--as-group', 'airlock:agents', '-o', 'name']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout.trim()).toBe(`namespace/${ns}`);
    const admin = await as(['get', 'namespace', ns, '--as', 'admin']);
    expect(admin.stderr).toMatch(/cannot impersonate resource "users".*"admin"|users "admin" is forbidden/);
    const masters = await as(['get', 'namespace', ns, '--as', 'agent-ci', '--as-group', 'system:masters']);
    expect(masters.stderr).toMatch(/cannot impersonate resource "groups"/);
    // The listed ServiceAccount (impersonation succeeds; the bot itself has no rights to list pods).
    const sa = await as(['-n', ns, 'get', 'pods', '--as', `system:serviceaccount:${ns}:bot`, '--as-group', 'system:serviceaccounts', '--as-group', `system:serviceaccounts:${ns}`]);
    expect(sa.stderr).toContain(`User "system:serviceaccount:${ns}:bot" cannot list resource "pods"`);
    // User extras: the proxied marker and the ServiceAccount token keys pass; any other key (an OIDC claim
    // included: the proxy keeps those for its own policies) does not.
    // Sent exactly as the proxy sends them (KubeClient's impersonation headers).
    const op = await KubeClient.load(kubeconfig);
    const agent = { username: 'agent-ci', uid: 'uid-agent-ci', groups: ['airlock:agents'], extra: { 'airlock.dev/proxied': ['marker'], 'authentication.kubernetes.io/pod-name': ['runner-1'] } };
    const got = await op.get<{ metadata: { name: string } }>(`/api/v1/namespaces/${ns}`, { impersonate: agent });
    expect(got.metadata.name).toBe(ns);
    const unlisted = await op.get(`/api/v1/namespaces/${ns}`, { impersonate: { ...agent, extra: { 'oidc.airlock.dev/admin': ['true'] } } }).catch((e: unknown) => e);
    expect(unlisted).toBeInstanceOf(KubeApiError);
    expect((unlisted as KubeApiError).status).toBe(403);
    expect((unlisted as KubeApiError).message).toMatch(/cannot impersonate resource "userextras\/oidc.airlock.dev\/admin"/);
    // A ServiceAccount with the same name in another namespace is not an agent.
    const elsewhere = await as(['-n', other, 'get', 'pods', '--as', `system:serviceaccount:${other}:bot`]);
    expect(elsewhere.stderr).toMatch(/cannot impersonate resource "serviceaccounts"/);
  });

  it('grants the operator what it needs and nothing more', async () => {
    const wh = `${rel}-airlock-webhook-tls`;
    const expectations: [string[], 'yes' | 'no'][] = [
      [['patch', 'validatingwebhookconfigurations/airlock'], 'yes'],
      [['create', 'validatingwebhookconfigurations/airlock'], 'yes'],
      [['patch', 'validatingwebhookconfigurations/someone-elses'], 'no'],
      [['delete', 'validatingwebhookconfigurations/airlock'], 'no'],
      [['patch', 'mutatingwebhookconfigurations/airlock'], 'no'],
      [['patch', 'customresourcedefinitions/approvals.airlock.dev'], 'yes'],
      [['patch', 'customresourcedefinitions/widgets.example.com'], 'no'],
      [['update', 'agentpolicies.airlock.dev/x', '--subresource=status'], 'yes'],
      [['update', 'approvals.airlock.dev/x', '--subresource=status'], 'yes'],
      [['update', 'agentpolicies.airlock.dev/x'], 'no'],
      [['create', 'approvals.airlock.dev'], 'yes'],
      [['create', 'tokenreviews.authentication.k8s.io'], 'yes'],
      [['create', 'subjectaccessreviews.authorization.k8s.io'], 'yes'],
      [['-n', ns, 'update', `leases.coordination.k8s.io/airlock-controller`], 'yes'],
      [['-n', ns, 'update', 'budgetusages.airlock.dev/x'], 'yes'],
      [['-n', 'default', 'update', 'budgetusages.airlock.dev/x'], 'no'],
      [['patch', 'customresourcedefinitions/budgetusages.airlock.dev'], 'yes'],
      [['-n', ns, 'update', 'leases.coordination.k8s.io/kube-scheduler'], 'no'],
      [['-n', 'kube-system', 'update', 'leases.coordination.k8s.io/airlock-controller'], 'no'],
      [['-n', ns, 'get', `secrets/${wh}`], 'yes'],
      [['-n', ns, 'get', 'secrets/airlock-proxied-key'], 'yes'],
      [['-n', ns, 'get', 'secrets/airlock-masking-key'], 'yes'],
      // Exec and attach output masking reads the target pod's Secrets and ConfigMaps by name
      // (proxy.readExecTargetValues, on by default): get, never list or watch.
      [['-n', ns, 'get', 'secrets/other'], 'yes'],
      [['-n', ns, 'list', 'secrets'], 'no'],
      [['-n', 'kube-system', 'watch', 'secrets'], 'no'],
      [['-n', 'kube-system', 'get', `secrets/${wh}`], 'yes'],
      [['-n', ns, 'get', 'configmaps/rego-policy'], 'yes'],
      [['-n', 'kube-system', 'get', 'configmaps/kube-root-ca.crt'], 'yes'],
      [['-n', 'kube-system', 'list', 'configmaps'], 'no'],
      [['-n', 'kube-system', 'get', 'pods/x'], 'yes'],
      [['-n', 'kube-system', 'list', 'pods'], 'no'],
      [['-n', 'kube-system', 'update', 'configmaps/airlock-audit'], 'yes'],
      [['create', 'clusterrolebindings'], 'no'],
      [['bind', 'clusterroles'], 'no'],
      [['escalate', 'clusterroles'], 'no'],
      [['-n', ns, 'create', 'pods'], 'no'],
      [['-n', ns, 'create', 'pods/exec'], 'no'],
      [['get', 'nodes'], 'no'],
      [['impersonate', 'users/admin'], 'no'],
      [['impersonate', 'users/agent-ci'], 'yes'],
    ];
    const got = await Promise.all(expectations.map(async ([args]) => can(args)));
    expect(expectations.map(([args], i) => `${args.join(' ')}: ${got[i]}`)).toEqual(expectations.map(([args, want]) => `${args.join(' ')}: ${want}`));
  });
});
