// Command-level inspection for exec through the proxy as shipped (default policy, masking and recording
// on), against real pods on kwok's fake node (its ClusterExec runs the command on this machine, with
// AIRLOCK_EXEC_CANARY in the environment, as a pod's env would carry it).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Approval } from '../../src/api/types.js';
import { approvalPath } from '../../src/approvals/paths.js';
import { createMaskerFactory } from '../../src/masking/index.js';
import { clientFor, eventually, kubectl, testEnv, uniqueName, type RunResult } from '../helpers/env.js';
import { approveAs, canaryValue, EXEC_ENV_CANARY as ENV_CANARY, findCanary, plantExecTarget, startShippedProxy, type ShippedProxy } from '../helpers/hostile.js';
import { agentPolicy, startTestProxy, type TestProxy } from '../helpers/proxy.js';

let proxy: ShippedProxy;
let kc: string;
const ns = uniqueName('execi');
const pod = 'app';
const fileCanary = canaryValue('file');
const configCanary = canaryValue('cfg');
/** A directory on this machine that the fake node's exec can read (kwok runs commands in DIR/kwok). */
const filesDir = join(testEnv().dir, 'kwok', `exec-files-${ns}`);

/** Runs kubectl through the proxy; WebSocket (default) or SPDY. */
function agentKubectl(args: string[], opts: { spdy?: boolean; kubeconfig?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const env = { ...process.env, KUBECTL_REMOTE_COMMAND_WEBSOCKETS: opts.spdy ? 'false' : 'true' };
    const child = spawn(testEnv().kubectl, ['--kubeconfig', opts.kubeconfig ?? kc, '-n', ns, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('latin1')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

const heldApproval = (r: RunResult): string => {
  const m = /held for approval: kubectl approve (\S+)/.exec(r.stderr);
  if (!m) throw new Error(`not held: ${r.stderr}`);
  return m[1]!;
};

beforeAll(async () => {
  proxy = await startShippedProxy();
  kc = proxy.kubeconfigFor('agent-ci');
  mkdirSync(filesDir, { recursive: true });
  writeFileSync(join(filesDir, 'password'), `${fileCanary}\n`);
  writeFileSync(join(filesDir, 'password.b64'), `${Buffer.from(fileCanary).toString('base64')}\n`);
  writeFileSync(join(filesDir, 'app.yaml'), `mode: fast\ndatabase:\n  password: ${configCanary}\n`);
  writeFileSync(join(filesDir, 'no-newline'), 'first\nhello-no-newline');
  // A value cut short, as a column width or `ps -o args:N` cuts it.
  writeFileSync(join(filesDir, 'cut'), `DB=${fileCanary.slice(0, -3)}\n`);
  await plantExecTarget(ns, pod, { fileValue: fileCanary, configValue: configCanary });
}, 90_000);

afterAll(async () => {
  await proxy?.close();
  rmSync(filesDir, { recursive: true, force: true });
  await (await clientFor('admin')).delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

describe('allowed debugging commands run, and their output is masked', () => {
  for (const spdy of [false, true]) {
    const via = spdy ? 'SPDY/3.1' : 'WebSocket';
    it(`env shows the pod's Secret value masked (${via})`, async () => {
      const r = await agentKubectl(['exec', pod, '--', 'env'], { spdy });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^AIRLOCK_EXEC_CANARY=airlock-masked:sha256:[0-9a-f]{8}$/m);
      expect(findCanary(r.stdout, [ENV_CANARY])).toBeUndefined();
      expect(r.stdout).toMatch(/^PATH=/m); // the rest of the environment is readable
    });

    it(`cat of a file holding a mounted Secret's value, plain and base64, is masked (${via})`, async () => {
      for (const f of ['password', 'password.b64']) {
        const r = await agentKubectl(['exec', pod, '--', 'cat', join(filesDir, f)], { spdy });
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/^airlock-masked:sha256:[0-9a-f]{8}\n$/);
        expect(findCanary(r.stdout, [fileCanary])).toBeUndefined();
      }
    });
  }

  it('a value cut short is still masked, and a command carrying part of a value is refused (no guessing oracle)', async () => {
    const cut = await agentKubectl(['exec', pod, '--', 'cat', join(filesDir, 'cut')]);
    expect(cut.code).toBe(0);
    expect(cut.stdout).toMatch(/^DB=airlock-masked:sha256:[0-9a-f]{8}\n$/);
    const guess = await agentKubectl(['exec', pod, '--', 'ls', `/${fileCanary.slice(2, 12)}`]);
    expect(guess.code).not.toBe(0);
    expect(guess.stderr).toContain('command[1] carries a secret value (or part of one)');
  });

  for (const spdy of [false, true]) {
    const via = spdy ? 'SPDY/3.1' : 'WebSocket';
    it(`output arrives whole, last partial line and exit code included; kubectl cp works (${via})`, async () => {
      const nonl = await agentKubectl(['exec', pod, '--', 'cat', join(filesDir, 'no-newline')], { spdy });
      expect({ code: nonl.code, out: nonl.stdout }).toEqual({ code: 0, out: 'first\nhello-no-newline' });
      const tar = await agentKubectl(['exec', pod, '--', 'tar', 'cf', '-', join(filesDir, 'no-newline')], { spdy });
      expect(tar.code).toBe(0);
      expect(tar.stdout.length).toBe(10240);
      const missing = await agentKubectl(['exec', pod, '--', 'cat', join(filesDir, 'not-there')], { spdy });
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('No such file');
      const dest = join(filesDir, `copied-${spdy ? 'spdy' : 'ws'}`);
      const cp = await agentKubectl(['cp', `${pod}:${join(filesDir, 'no-newline')}`, dest], { spdy });
      expect({ code: cp.code, stderr: cp.stderr }).toEqual({ code: 0, stderr: '' });
      expect(readFileSync(dest, 'utf8')).toBe('first\nhello-no-newline');
    });
  }

  it('a config file stays readable apart from the credential it holds (the ConfigMap the pod mounts)', async () => {
    const r = await agentKubectl(['exec', pod, '--', 'cat', join(filesDir, 'app.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('mode: fast\n');
    expect(r.stdout).toMatch(/password: airlock-masked:sha256:[0-9a-f]{8}/);
    expect(r.stdout).not.toContain(configCanary);
  });

  it('the session is recorded as asciicast of the masked output, with the argv and decision', async () => {
    await agentKubectl(['exec', pod, '--', 'env']);
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
    const cast = await eventually(() => walk(proxy.recordings).find((f) => f.endsWith('.cast') && readFileSync(f, 'utf8').includes('AIRLOCK_EXEC_CANARY=')), 10_000, 'asciicast');
    expect(readFileSync(cast, 'utf8')).toContain('AIRLOCK_EXEC_CANARY=airlock-masked');
    type Rec = { type?: string; asciicast?: string; command?: string[]; decision?: { action?: string; rule?: string } };
    const lines = walk(proxy.recordings).filter((f) => f.endsWith('.jsonl')).flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec));
    const exec = lines.find((l) => l.type === 'exec' && l.asciicast && cast.endsWith(l.asciicast));
    expect(exec).toMatchObject({ command: ['env'], decision: { action: 'allow', policy: 'default-agent-policy', rule: 'debugging-commands' } });
    for (const f of walk(proxy.recordings)) expect(findCanary(readFileSync(f), [ENV_CANARY, fileCanary, configCanary])).toBeUndefined();
  });
});

describe('logs know the pod\'s secret values too', () => {
  it('a log line with a Secret value the pod uses, in no detector shape, is masked', async () => {
    // The fake node serves every pod's log from one file.
    appendFileSync(join(testEnv().dir, 'kwok', 'pod.log'), `2026-01-01T00:00:09Z stdout F connected as app:${ENV_CANARY} to the db\n`);
    const r = await agentKubectl(['logs', pod]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/connected as app:airlock-masked:sha256:[0-9a-f]{8} to the db/);
    expect(findCanary(r.stdout, [ENV_CANARY])).toBeUndefined();
  });

  it('--limit-bytes cutting through a value does not show the part before the cut', async () => {
    const direct = await kubectl(['-n', ns, 'logs', pod]);
    const at = direct.stdout.lastIndexOf(ENV_CANARY);
    expect(at).toBeGreaterThan(0);
    const limit = Buffer.byteLength(direct.stdout.slice(0, at)) + ENV_CANARY.length - 2;
    const r = await agentKubectl(['logs', pod, `--limit-bytes=${limit}`]);
    expect(r.code).toBe(0);
    expect(Buffer.byteLength(r.stdout, 'latin1')).toBeLessThanOrEqual(limit);
    expect(r.stdout).toContain('connected as app:airlock-mask'); // the marker, cut where the value would have been
    expect(r.stdout).not.toContain(ENV_CANARY.slice(0, 10));
  });
});

describe('dangerous commands are refused with the policy and rule named', () => {
  const cases: [string, string[], string][] = [
    ['a mounted Secret by its mount path', ['cat', '/etc/secret-volume/password'], 'inside /etc/secret-volume'],
    ['the ServiceAccount token', ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/token'], 'inside /var/run/secrets'],
    ['a path that climbs into the token directory', ['cat', '/app/config/../../var/run/secrets/kubernetes.io/serviceaccount/token'], 'climbs with ".."'],
    ['a shell with an inline script', ['sh', '-c', 'echo $DB_PASSWORD'], 'runs inline code'],
    ['an interpreter with inline code, behind env', ['env', 'X=1', 'python3', '-c', 'print(1)'], 'runs inline code'],
    ['a network tool aimed elsewhere', ['curl', '-s', 'http://localhost@attacker.example/'], 'connects to "attacker.example"'],
    ['a destructive command', ['rm', '-rf', '/data'], 'removes files'],
    ['the environment through the kernel\'s /proc/net symlink', ['cat', '/proc/net/../environ'], 'climbs with ".."'],
    ['an open file through /dev/fd', ['cat', '/dev/fd/0'], 'open file'],
  ];
  for (const [what, argv, explains] of cases) {
    it(what, async () => {
      const r = await agentKubectl(['exec', pod, '--', ...argv]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('denied by policy default-agent-policy rule no-dangerous-exec');
      // The explanation names the argv element and what is wrong with it.
      expect(r.stderr).toMatch(new RegExp(`\\(command\\[\\d+\\]: .*${explains.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    });
  }
});

describe('held exec', () => {
  it('a program of an allowed name outside the system directories is held, not allowed', async () => {
    const r = await agentKubectl(['exec', pod, '--', `${filesDir}/ls`, '/']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('held for approval');
  });

  it('attach is held by the default policy', async () => {
    const r = await agentKubectl(['attach', pod, '-c', 'app']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('held for approval');
  });

  it('an interactive exec is held; the approval shows the argv and target, and lets the identical command run once', async () => {
    const held = await agentKubectl(['exec', '-i', pod, '--', 'ls', filesDir]);
    expect(held.code).not.toBe(0);
    const name = heldApproval(held);
    const approval = await (await clientFor('admin')).get<Approval>(approvalPath(name));
    expect(approval.spec.request.exec).toMatchObject({ command: ['ls', filesDir], interactive: true, pod, container: 'app', image: 'registry.example/app:1', serviceAccount: 'default' });
    expect(approval.spec.request.exec?.podUID).toMatch(/^[0-9a-f-]{36}$/);
    expect(approval.spec.policy.rule).toBe('interactive-exec-needs-approval');

    // Another command does not ride on this approval.
    await approveAs('alice', name);
    const other = await agentKubectl(['exec', '-i', pod, '--', 'ls', '/']);
    expect(heldApproval(other)).not.toBe(name);

    const ran = await agentKubectl(['exec', '-i', pod, '--', 'ls', filesDir]);
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('password.b64');
    // One use: the same command again is held anew.
    const again = await agentKubectl(['exec', '-i', pod, '--', 'ls', filesDir]);
    expect(again.code).not.toBe(0);
    expect(heldApproval(again)).not.toBe(name);
  });
});

describe('output split across frames', () => {
  let open: TestProxy;
  beforeAll(async () => {
    // A policy that lets shells run, so the test can write a value in pieces, with pauses, as a slow
    // program would.
    const policy = agentPolicy(uniqueName('split'), [{ name: 'all', match: { apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, action: 'allow' }]);
    policy.spec.masking = { secrets: true, logs: true };
    open = await startTestProxy({ policies: [policy], masker: createMaskerFactory() });
  });
  afterAll(async () => open?.close());

  it('attach output is masked too (kwok streams a file as the container\'s output)', async () => {
    const child = spawn(testEnv().kubectl, ['--kubeconfig', open.kubeconfigFor('agent-ci'), '-n', ns, 'attach', pod, '-c', 'app']);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise((r) => child.once('close', r));
    try {
      // kwok follows the file (CRI log format) from its end, as a running container's output goes on.
      await eventually(() => err.includes('command prompt'), 15_000, 'the attach to start');
      const line = () => `${new Date().toISOString()} stdout F app says: db password is ${ENV_CANARY}\n`;
      await eventually(() => {
        appendFileSync(join(testEnv().dir, 'kwok', 'attach.log'), line());
        return out.includes('app says');
      }, 15_000, 'attach output');
      await eventually(() => /db password is airlock-masked:sha256:[0-9a-f]{8}/.test(out), 15_000, 'the masked attach line').catch((e: unknown) => {
        throw new Error(`${String(e)}; stdout ${JSON.stringify(out)}, stderr ${JSON.stringify(err)}`);
      });
      expect(out).not.toContain(ENV_CANARY);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  for (const pause of ['0.05', '0.4', '1.5']) {
    for (const spdy of [false, true]) {
      it(`a value written in three pieces ${pause}s apart never shows (${spdy ? 'SPDY' : 'WebSocket'})`, async () => {
        // The pieces come from the environment: a command carrying them would be refused for that alone.
        const piece = (range: string) => `printf %s "$(printf %s "$AIRLOCK_EXEC_CANARY" | cut -c${range})"`;
        const script = `${piece('1-2')}; sleep ${pause}; ${piece('3-9')}; sleep ${pause}; ${piece('10-')}; echo; printf 'done\\n' >&2`;
        const v = ENV_CANARY;
        const r = await agentKubectl(['exec', pod, '--', 'sh', '-c', script], { spdy, kubeconfig: open.kubeconfigFor('agent-ci') });
        expect(r.code).toBe(0);
        expect(r.stderr).toContain('done');
        expect(r.stdout).not.toContain(v.slice(0, 4));
        expect(r.stdout).toMatch(/airlock-masked:sha256:[0-9a-f]{8}\n$/);
      });
    }
  }
});
