// `make up CONTEXT=<name>`: Airlock targets an existing cluster (here: a separate control plane reached only
// through a kubeconfig context) instead of starting its own. The agent is a ServiceAccount with a bound
// token, authenticated by TokenReview, governed by the default policy.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, ROOT } from '../helpers/build.js';
import { run, testEnv, type RunResult } from '../helpers/env.js';

describe('make up CONTEXT=<existing cluster>', () => {
  let dir: string;
  let state: string;
  let output = '';
  const agent = (...args: string[]): Promise<RunResult> => run(testEnv().kubectl, ['--kubeconfig', join(state, 'agent.kubeconfig'), ...args]);

  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'airlock-ctx-'));
    state = join(dir, 'state');
    execFileSync('bash', [join(ROOT, 'hack/cluster.sh'), 'up', join(dir, 'existing')], { stdio: ['ignore', 'ignore', 'inherit'] });
    output = execFileSync('bash', [join(ROOT, 'hack/up.sh')], {
      env: { ...process.env, AIRLOCK_STATE: state, CONTEXT: 'admin', KUBECONFIG: join(dir, 'existing/admin.kubeconfig') },
      encoding: 'utf8',
    });
    // The threat model: the agent holds broad RBAC in that cluster, so Airlock's policy is the guard.
    execFileSync(testEnv().kubectl, ['--kubeconfig', join(dir, 'existing/admin.kubeconfig'), 'create', 'clusterrolebinding', 'agents-admin', '--clusterrole=cluster-admin', '--serviceaccount=agents:agent-ci'], { stdio: 'ignore' });
  }, 180000);

  afterAll(() => {
    execFileSync('bash', [join(ROOT, 'hack/down.sh')], { env: { ...process.env, AIRLOCK_STATE: state }, stdio: 'ignore' });
    execFileSync('bash', [join(ROOT, 'hack/cluster.sh'), 'down', join(dir, 'existing')], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts no control plane of its own and points the agent at the proxy', () => {
    expect(output).toContain('Airlock is up');
    expect(existsSync(join(state, 'cluster'))).toBe(false);
    const kc = readFileSync(join(state, 'agent.kubeconfig'), 'utf8');
    const ports = readFileSync(join(state, 'ports.env'), 'utf8');
    expect(kc).toContain(`https://127.0.0.1:${/PROXY_PORT=(\d+)/.exec(ports)![1]}`);
  });

  it('governs the ServiceAccount agent with the default policy', async () => {
    const who = await agent('auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}');
    expect(who.stdout).toBe('system:serviceaccount:agents:agent-ci');
    const crb = await agent('create', 'clusterrolebinding', 'pwn', '--clusterrole=cluster-admin', '--serviceaccount=agents:agent-ci');
    expect(crb.code).not.toBe(0);
    expect(crb.stderr).toContain('denied by policy default-agent-policy');
    const token = await agent('-n', 'agents', 'create', 'token', 'agent-ci');
    expect(token.stderr).toContain('denied by policy default-agent-policy');
    const work = await agent('create', 'namespace', 'ctx-app');
    expect({ code: work.code, err: work.stderr }).toEqual({ code: 0, err: '' });
  });
});
