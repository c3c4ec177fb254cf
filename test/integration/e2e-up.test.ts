// End to end, as a new user runs it: `make up` (hack/up.sh) on its own embedded control plane with the
// default example policy, the agent working through the proxy with stock kubectl, a held request approved
// with `kubectl approve` by another identity, metrics, and `make down` leaving nothing running.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, run, testEnv, type RunResult } from '../helpers/env.js';
import { ensureBuilt, ROOT } from '../helpers/build.js';
import { EXEC_ENV_CANARY } from '../helpers/hostile.js';

/** stderr without the warnings of audit-only rules (kubectl prints them as kube-apiserver's own warnings). */
function exceptAuditWarnings(stderr: string): string {
  return stderr.split('\n').filter((l) => l && !l.startsWith('Warning: airlock audit:')).join('\n');
}

describe('make up: Airlock end to end on an embedded control plane', () => {
  let state: string;
  let upOutput = '';
  let pathEnv: string;
  const ports: Record<string, string> = {};

  const kubectlAs = (who: 'agent' | 'admin' | 'approver' | 'approver2', args: string[], input?: string): Promise<RunResult> =>
    run(testEnv().kubectl, args, { input, env: { ...process.env, PATH: pathEnv, KUBECONFIG: join(state, `${who}.kubeconfig`) } });
  const agent = (...args: string[]): Promise<RunResult> => kubectlAs('agent', args);

  beforeAll(() => {
    ensureBuilt();
    state = mkdtempSync(join(tmpdir(), 'airlock-up-'));
    // kubectl plugins (kubectl-approve, kubectl-airlock) resolved from PATH like a user's install.
    const plugins = join(state, 'plugins');
    mkdirSync(plugins);
    for (const p of ['kubectl-approve', 'kubectl-airlock']) symlinkSync(join(ROOT, 'bin', `${p}.js`), join(plugins, p));
    pathEnv = `${plugins}:${join(process.execPath, '..')}:${process.env.PATH}`;
    upOutput = execFileSync('bash', [join(ROOT, 'hack/up.sh')], { env: { ...process.env, AIRLOCK_STATE: state }, encoding: 'utf8' });
    for (const line of readFileSync(join(state, 'ports.env'), 'utf8').split('\n')) {
      const [k, v] = line.split('=');
      if (k && v) ports[k] = v;
    }
  }, 240000);

  afterAll(() => {
    if (state) {
      execFileSync('bash', [join(ROOT, 'hack/down.sh')], { env: { ...process.env, AIRLOCK_STATE: state }, stdio: 'ignore' });
      rmSync(state, { recursive: true, force: true });
    }
  });

  it('prints what to do next and writes the kubeconfigs', () => {
    expect(upOutput).toContain('Airlock is up');
    expect(upOutput).toContain('kubectl approve');
    for (const f of ['agent', 'admin', 'approver', 'approver2']) expect(existsSync(join(state, `${f}.kubeconfig`))).toBe(true);
    const agentKc = readFileSync(join(state, 'agent.kubeconfig'), 'utf8');
    expect(agentKc).toContain(`https://127.0.0.1:${ports.PROXY_PORT}`);
    expect(agentKc).not.toContain(readFileSync(join(state, 'cluster/env.json'), 'utf8').match(/"server": "([^"]+)"/)![1]);
  });

  it('lets the agent do benign CI/CD work with stock kubectl', async () => {
    for (const args of [
      ['create', 'namespace', 'e2e-app'],
      ['-n', 'e2e-app', 'create', 'deployment', 'web', '--image=registry.k8s.io/pause:3.10', '--replicas=1'],
      ['-n', 'e2e-app', 'create', 'configmap', 'settings', '--from-literal=mode=fast'],
      ['-n', 'e2e-app', 'expose', 'deployment', 'web', '--port=80'],
      ['-n', 'e2e-app', 'scale', 'deployment', 'web', '--replicas=3'],
      ['-n', 'e2e-app', 'rollout', 'restart', 'deployment', 'web'],
      ['-n', 'e2e-app', 'get', 'deploy,svc,cm,pods', '-o', 'wide'],
      ['get', 'namespaces'],
      ['api-resources'],
    ]) {
      const r = await agent(...args);
      expect({ args, code: r.code, stderr: exceptAuditWarnings(r.stderr) }).toEqual({ args, code: 0, stderr: '' });
    }
    const applied = await kubectlAs('agent', ['apply', '--server-side', '-f', '-'], JSON.stringify({
      apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'migrate', namespace: 'e2e-app' },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'registry.k8s.io/pause:3.10' }] } } },
    }));
    expect(exceptAuditWarnings(applied.stderr)).toBe('');
    const dep = await agent('-n', 'e2e-app', 'get', 'deployment', 'web', '-o', 'json');
    const annotations = (JSON.parse(dep.stdout) as { metadata: { annotations: Record<string, string> } }).metadata.annotations;
    expect(annotations['airlock.dev/agent']).toBe('agent-ci');
    expect(annotations['airlock.dev/session']).toMatch(/agent-ci/);
  });

  it('blocks escalation and masks secrets', async () => {
    const crb = await agent('create', 'clusterrolebinding', 'pwn', '--clusterrole=cluster-admin', '--user=agent-ci');
    expect(crb.code).not.toBe(0);
    expect(crb.stderr).toContain('denied by policy default-agent-policy');
    const priv = await kubectlAs('agent', ['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'root', namespace: 'e2e-app' },
      spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', securityContext: { privileged: true } }] },
    }));
    expect(priv.code).not.toBe(0);
    expect(priv.stderr).toContain('spec.containers[0].securityContext.privileged');

    const admin = (...args: string[]): Promise<RunResult> => kubectlAs('admin', args);
    expect((await admin('-n', 'e2e-app', 'create', 'secret', 'generic', 'db', '--from-literal=password=hunter2')).code).toBe(0);
    const masked = await agent('-n', 'e2e-app', 'get', 'secret', 'db', '-o', 'jsonpath={.data.password}');
    expect(masked.code).toBe(0);
    expect(Buffer.from(masked.stdout, 'base64').toString()).toMatch(/^airlock-masked:/);
    const real = await admin('-n', 'e2e-app', 'get', 'secret', 'db', '-o', 'jsonpath={.data.password}');
    expect(Buffer.from(real.stdout, 'base64').toString()).toBe('hunter2');
    // Writing the masked manifest back whole is refused (it would overwrite the real value with a
    // placeholder); client-side apply sees no change in the masked value and leaves it alone.
    const yaml = (await agent('-n', 'e2e-app', 'get', 'secret', 'db', '-o', 'yaml')).stdout;
    for (const args of [['replace', '-f', '-'], ['apply', '--server-side', '--force-conflicts', '-f', '-']]) {
      const back = await kubectlAs('agent', args, yaml);
      expect({ args, code: back.code === 0 ? 0 : 1 }).toEqual({ args, code: 1 });
      expect(back.stderr).toContain('masked placeholder');
    }
    expect((await kubectlAs('agent', ['apply', '-f', '-'], yaml)).code).toBe(0);
    const still = await admin('-n', 'e2e-app', 'get', 'secret', 'db', '-o', 'jsonpath={.data.password}');
    expect(Buffer.from(still.stdout, 'base64').toString()).toBe('hunter2');
    const token = await agent('-n', 'e2e-app', 'create', 'token', 'default');
    expect(token.code).not.toBe(0);
  });

  it('debugs a pod with exec: the debugging set runs with its output masked, a shell is refused', async () => {
    // kwok's fake node runs exec on this machine with AIRLOCK_EXEC_CANARY (hack/cluster.sh) in the
    // environment; the pod uses a Secret holding that value, so the proxy knows to mask it.
    const canary = EXEC_ENV_CANARY;
    expect((await kubectlAs('admin', ['-n', 'e2e-app', 'create', 'secret', 'generic', 'exec-canary', `--from-literal=value=${canary}`])).code).toBe(0);
    const pod = await kubectlAs('admin', ['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debugme', namespace: 'e2e-app' },
      spec: {
        nodeName: 'kwok-node', tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
        containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', env: [{ name: 'CANARY', valueFrom: { secretKeyRef: { name: 'exec-canary', key: 'value' } } }] }],
      },
    }));
    expect(pod.code).toBe(0);
    await eventually(async () => (await kubectlAs('admin', ['-n', 'e2e-app', 'get', 'pod', 'debugme', '-o', 'jsonpath={.status.phase}'])).stdout === 'Running', 20_000, 'debugme Running');
    // Through the whole product: the proxy judges and masks, the webhook lets the proxied exec through.
    const env = await agent('-n', 'e2e-app', 'exec', 'debugme', '--', 'env');
    expect({ code: env.code, stderr: env.stderr }).toEqual({ code: 0, stderr: '' });
    expect(env.stdout).toMatch(/^AIRLOCK_EXEC_CANARY=airlock-masked:sha256:[0-9a-f]{8}$/m);
    expect(env.stdout).not.toContain(canary);
    expect((await agent('-n', 'e2e-app', 'exec', 'debugme', '--', 'ls', '/')).code).toBe(0);
    const shell = await agent('-n', 'e2e-app', 'exec', 'debugme', '--', 'sh', '-c', 'env');
    expect(shell.code).not.toBe(0);
    expect(shell.stderr).toContain('rule no-dangerous-exec');
  });

  it('holds scaling production to zero until another identity approves it with kubectl approve', async () => {
    // make up created namespace "production" (label env=production) with Deployment "web", as admin.
    const scale = ['-n', 'production', 'scale', 'deployment', 'web', '--replicas=0'];
    const held = await agent(...scale);
    expect(held.code).not.toBe(0);
    const name = /kubectl approve (\S+)/.exec(held.stderr)?.[1];
    expect(name).toBeDefined();
    // The agent cannot approve its own request, even holding cluster-admin RBAC.
    const self = await agent('patch', 'approval', name!, '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Approved"}}');
    expect(self.code).not.toBe(0);
    const list = await kubectlAs('approver', ['approve', 'list']);
    expect(list.stdout).toContain(name!);
    const ok = await kubectlAs('approver', ['approve', name!, '--comment', 'maintenance window']);
    expect({ code: ok.code, err: ok.stderr }).toEqual({ code: 0, err: '' });
    const retried = await agent(...scale);
    expect({ code: retried.code, err: retried.stderr }).toEqual({ code: 0, err: '' });
    const phase = await kubectlAs('admin', ['get', 'approval', name!, '-o', 'jsonpath={.status.phase}']);
    expect(phase.stdout).toBe('Consumed');
    const replicas = await kubectlAs('admin', ['-n', 'production', 'get', 'deployment', 'web', '-o', 'jsonpath={.spec.replicas}']);
    expect(replicas.stdout).toBe('0');
  });

  it('lets the agent delete the namespace it created, but holds deleting anyone else\'s', async () => {
    const own = await agent('delete', 'namespace', 'e2e-app', '--wait=false');
    expect({ code: own.code, err: own.stderr }).toEqual({ code: 0, err: '' });
    const others = await agent('delete', 'namespace', 'production', '--wait=false');
    expect(others.code).not.toBe(0);
    expect(others.stderr).toContain('held for approval');
  });

  it('applies the same policy at admission to the agent using direct credentials (no proxy)', async () => {
    const direct = (args: string[], input?: string): Promise<RunResult> =>
      run(testEnv().kubectl, ['--kubeconfig', join(state, 'cluster/agent-direct.kubeconfig'), ...args], { input });
    const priv = await direct(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'direct-root', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', securityContext: { privileged: true } }] },
    }));
    expect(priv.code).not.toBe(0);
    expect(priv.stderr).toContain('admission webhook');
    expect(priv.stderr).toContain('spec.containers[0].securityContext.privileged');
    const crb = await direct(['create', 'clusterrolebinding', 'direct-pwn', '--clusterrole=cluster-admin', '--user=agent-ci']);
    expect(crb.code).not.toBe(0);
    expect(crb.stderr).toContain('denied the request');
    // Forging the proxy's marker without knowing the installation's secret value does not help.
    const forged = await direct(['--as=agent-ci', '--as-user-extra=airlock.dev/proxied=guess', 'create', 'clusterrolebinding', 'direct-pwn2', '--clusterrole=cluster-admin', '--user=agent-ci']);
    expect(forged.code).not.toBe(0);
  });

  it('serves metrics and records the session', async () => {
    const res = await fetch(`http://127.0.0.1:${ports.METRICS_PORT}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/airlock_decisions_total\{action="deny",policy="default-agent-policy"/);
    expect(text).toContain('airlock_proxy_request_duration_seconds_bucket');
    const sessions = await run(process.execPath, [join(ROOT, 'bin/kubectl-airlock.js'), 'sessions', '--dir', join(state, 'recordings'), '-o', 'json']);
    expect(sessions.code).toBe(0);
    const verify = await run(process.execPath, [join(ROOT, 'bin/kubectl-airlock.js'), 'verify', '--dir', join(state, 'recordings')]);
    expect({ code: verify.code, out: verify.stdout.slice(0, 500) }).toMatchObject({ code: 0 });
  });

  it('make down stops everything it started', async () => {
    const pids = [join(state, 'pids/airlock.pid'), ...readdirSync(join(state, 'cluster/pids')).map((f) => join(state, 'cluster/pids', f))]
      .filter(existsSync)
      .map((f) => Number(readFileSync(f, 'utf8')));
    expect(pids.length).toBeGreaterThanOrEqual(4);
    execFileSync('bash', [join(ROOT, 'hack/down.sh')], { env: { ...process.env, AIRLOCK_STATE: state }, stdio: 'ignore' });
    for (const pid of pids) {
      // A zombie (exited, not yet reaped by whichever process inherited it) counts as stopped.
      let alive = false;
      try { alive = !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { alive = false; }
      expect({ pid, alive }).toEqual({ pid, alive: false });
    }
  });

  it('make up again after make down comes back with its state (the stale webhook cannot lock Airlock out)', async () => {
    // The ValidatingWebhookConfiguration (failurePolicy Fail) survived in etcd while nothing served it;
    // Airlock's own identity is excluded by matchConditions, so it can reinstall CRDs and re-register.
    const again = execFileSync('bash', [join(ROOT, 'hack/up.sh')], { env: { ...process.env, AIRLOCK_STATE: state }, encoding: 'utf8' });
    expect(again).toContain('Airlock is up');
    const ns = await agent('get', 'namespace', 'production', '-o', 'name');
    expect({ code: ns.code, out: ns.stdout.trim() }).toEqual({ code: 0, out: 'namespace/production' });
    const crb = await agent('create', 'clusterrolebinding', 'pwn-again', '--clusterrole=cluster-admin', '--user=agent-ci');
    expect(crb.stderr).toContain('denied by policy default-agent-policy');
  }, 120000);
});
