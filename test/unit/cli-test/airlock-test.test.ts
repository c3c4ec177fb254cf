// `kubectl airlock test`: in-process (main) and as the real command (node bin/kubectl-airlock.js) after tsc.
import { ensureBuilt } from '../../helpers/build.js';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/airlock-test.js';

const root = new URL('../../../', import.meta.url).pathname;
const examples = join(root, 'examples');
const defaultPolicy = join(examples, 'default-agent-policy.yaml');

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { err += String(s); return true; });
  try {
    const code = await main(argv);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const tmpDirs: string[] = [];
afterAll(() => { for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function tmp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-'));
  tmpDirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const privilegedPod = `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: team-a}
spec:
  containers:
    - {name: c, image: "nginx:1.27", securityContext: {privileged: true}}
`;

afterEach(() => { jest.restoreAllMocks(); });

describe('kubectl airlock test (in-process)', () => {
  it('runs the example test suites: every case passes', async () => {
    const r = await run([join(examples, 'tests')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^RESULT\s+SUITE\s+CASE/);
    expect(r.out).toMatch(/\n(\d+) passed, 0 failed, \1 total\n$/);
    expect(r.out).toContain('PASS    default-agent-policy');
    expect(r.out).toContain('production');
  });

  it('decides a plain manifest with --user/--groups and prints action, policy, rule, reason, explanations', async () => {
    const dir = tmp({ 'pod.yaml': privilegedPod });
    const r = await run(['-p', defaultPolicy, '-r', join(dir, 'pod.yaml'), '--user', 'agent-ci', '--groups', 'airlock:agents']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('action:  deny\npolicy:  default-agent-policy\nrule:    no-privileged-workloads\n');
    expect(r.out).toContain('  - [privileged] spec.containers[0].securityContext.privileged: container runs privileged');
  });

  it('prints JSON and YAML; --verb changes the verb; RequestAttributes files work', async () => {
    const dir = tmp({
      'pod.yaml': privilegedPod,
      'exec.yaml': 'user: {username: agent-ci, groups: []}\nverb: create\napiGroup: ""\napiVersion: v1\nresource: pods\nsubresource: exec\nnamespace: team-a\nname: p\noptions: {command: [sh, -c, id]}\n',
    });
    const j = await run(['-p', examples, '-r', join(dir, 'pod.yaml'), '--user', 'agent-ci', '--verb', 'delete', '-o', 'json']);
    expect(j.code).toBe(0);
    const d = JSON.parse(j.out) as { action: string; matched: { rule: string } };
    // A delete in a namespace whose labels the CLI does not know could be production: held.
    expect(d).toMatchObject({ action: 'hold', matched: { rule: 'production-deletes-need-approval-by-label' } });
    const y = await run(['-p', defaultPolicy, '-r', join(dir, 'exec.yaml'), '-o', 'yaml']);
    expect(y.out).toMatch(/^action: deny\n/);
    expect(y.out).toContain('rule: no-dangerous-exec');
  });

  it('fails a suite whose expectation is wrong, with exit code 1 and a FAIL row', async () => {
    const dir = tmp({
      'airlock-test.yaml': `policies: [${defaultPolicy}]
defaults: {user: agent-ci}
cases:
  - name: wrongly expects allow
    request: pod.yaml
    expect: {action: allow}
  - name: rightly expects deny
    request: pod.yaml
    expect: {action: deny, detectors: [privileged]}
`,
      'pod.yaml': privilegedPod,
    });
    const r = await run([dir]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL\s+\S+\s+wrongly expects allow\s+allow\s+deny \(default-agent-policy\/no-privileged-workloads\)\s+action: expected allow, got deny/);
    expect(r.out).toMatch(/PASS\s+\S+\s+rightly expects deny/);
    expect(r.out).toContain('1 passed, 1 failed, 2 total');
  });

  it('reports invalid policies and bad input with exit code 1', async () => {
    const dir = tmp({
      'bad.yaml': 'apiVersion: airlock.dev/v1alpha1\nkind: AgentPolicy\nmetadata: {name: bad}\nspec:\n  agents: {users: [agent-ci]}\n  rules: [{name: x, detectors: [privilegd], action: deny}]\n',
      'pod.yaml': privilegedPod,
      'broken.yaml': 'a: [1,\n',
    });
    const r = await run(['-p', join(dir, 'bad.yaml'), '-r', join(dir, 'pod.yaml'), '--user', 'agent-ci']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('spec.rules[0].detectors[0]: unknown detector "privilegd"');
    expect(r.out).toContain('rule:    invalid');
    expect((await run(['-p', join(dir, 'bad.yaml'), '-r', join(dir, 'broken.yaml'), '--user', 'x'])).err).toMatch(/invalid YAML/);
    expect((await run(['-p', join(dir, 'nope.yaml'), '-r', join(dir, 'pod.yaml')])).err).toMatch(/no such file/);
    expect((await run(['-p', defaultPolicy, '-r', join(dir, 'pod.yaml')])).err).toMatch(/no user/);
    expect((await run(['--frobnicate'])).code).toBe(2); // usage errors: 2, as every command
    expect((await run(['-p', defaultPolicy])).err).toMatch(/give both -p/);
    expect((await run([dir, '-o', 'xml'])).err).toMatch(/--output must be/);
    expect((await run(['--help'])).code).toBe(0);
  });
});

describe('kubectl airlock test (the real command)', () => {
  beforeAll(() => {
    ensureBuilt();
    expect(existsSync(join(root, 'dist/src/cli/airlock-test.js'))).toBe(true);
  }, 300000);

  const node = (args: string[]): Promise<{ code: number; out: string; err: string }> => new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'bin/kubectl-airlock.js'), ...args], { cwd: root }, (err, out, errOut) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out, err: errOut });
    });
  });

  it('runs examples/tests and exits 0', async () => {
    const r = await node(['test', 'examples/tests/']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/(\d+) passed, 0 failed, \1 total/);
  });

  it('exits 1 on a failing suite and decides single requests', async () => {
    const dir = tmp({
      'airlock-test.yaml': `policies: [${defaultPolicy}]\ndefaults: {user: agent-ci}\ncases:\n  - {name: wrong, request: pod.yaml, expect: {action: allow}}\n`,
      'pod.yaml': privilegedPod,
    });
    const r = await node(['test', dir]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('0 passed, 1 failed, 1 total');
    const d = await node(['test', '-p', defaultPolicy, '-r', join(dir, 'pod.yaml'), '--user', 'agent-ci', '-o', 'json']);
    expect(d.code).toBe(0);
    expect(JSON.parse(d.out)).toMatchObject({ action: 'deny', matched: { policy: 'default-agent-policy', rule: 'no-privileged-workloads' } });
  });
});
