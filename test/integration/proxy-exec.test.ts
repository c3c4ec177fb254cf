// Streams through the agent proxy against real pods on kwok's fake node: exec (WebSocket v5 and SPDY),
// logs and logs -f (masked), and upgrade requests judged before anything is piped.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { createMaskerFactory } from '../../src/masking/index.js';
import { FileRecorder } from '../../src/recording/index.js';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientFor, eventually, kubectl, testEnv, uniqueName } from '../helpers/env.js';
import { startTestProxy, type TestProxy, agentPolicy } from '../helpers/proxy.js';

let proxy: TestProxy;
let kc: string;
let recorder: FileRecorder;
const recDir = mkdtempSync(join(tmpdir(), 'airlock-proxy-rec-'));
const ns = uniqueName('exec');
const pod = 'app';
const lockedPod = 'locked';

function kwokPod(name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      nodeSelector: { type: 'kwok' },
      tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
      containers: [{ name: 'app', image: 'registry.example/app:1' }],
    },
  };
}

beforeAll(async () => {
  const policy = agentPolicy(uniqueName('streams'), [
    { name: 'discovery', match: { nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/openapi/*', '/version'], verbs: ['get'] }, action: 'allow' },
    { name: 'no-exec-locked', match: { apiGroups: [''], resources: ['pods/exec', 'pods/attach', 'pods/portforward'], names: [lockedPod] }, action: 'deny', message: 'this pod is off limits' },
    { name: 'no-attach', match: { apiGroups: [''], resources: ['pods/attach'] }, action: 'deny', message: 'attach is not allowed' },
    { name: 'rest', match: { apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, action: 'allow' },
  ]);
  policy.spec.masking = { secrets: true, logs: true, patterns: ['hunter2'] };
  recorder = new FileRecorder({ dir: recDir, housekeepingMs: 0 });
  proxy = await startTestProxy({ policies: [policy], masker: createMaskerFactory(), recorder });
  kc = proxy.kubeconfigFor('agent-ci');
  const admin = await clientFor('admin');
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  for (const name of [pod, lockedPod]) await admin.create(`/api/v1/namespaces/${ns}/pods`, kwokPod(name));
  await eventually(async () => {
    const p = await admin.get<{ status: { phase?: string } }>(`/api/v1/namespaces/${ns}/pods/${pod}`);
    const q = await admin.get<{ status: { phase?: string } }>(`/api/v1/namespaces/${ns}/pods/${lockedPod}`);
    return p.status.phase === 'Running' && q.status.phase === 'Running';
  }, 20000, 'kwok pods Running');
});
afterAll(async () => {
  await proxy?.close();
  await recorder?.close();
  rmSync(recDir, { recursive: true, force: true });
  await (await clientFor('admin')).delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

/** Ends a kubectl child process (port-forward, logs -f) and waits until it has exited. */
async function stopChild(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('close', r));
  child.kill('SIGTERM');
  await exited;
}

/** Every file below dir, and the records of every session file in the recording directory. */
const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
const recorded = <T>(): T[] =>
  files(recDir).filter((f) => f.endsWith('.jsonl')).flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean)).map((l) => JSON.parse(l) as T);

describe('exec', () => {
  it('runs a command through the proxy over WebSocket (v5.channel.k8s.io)', async () => {
    const r = await kubectl(['-n', ns, 'exec', pod, '--', 'sh', '-c', 'echo out-$((6*7)); echo err-line >&2'], { kubeconfig: kc, timeoutMs: 30000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('out-42');
    expect(r.stderr).toContain('err-line');
    // The stream was recorded as asciicast, linked from the exec record in the session file.
    const cast = await eventually(() => files(recDir).find((f) => f.endsWith('.cast') && readFileSync(f, 'utf8').includes('out-42')), 10000, 'asciicast with the output');
    expect(readFileSync(cast, 'utf8')).toContain('err-line');
    type Rec = { type: string; asciicast?: string; request: { subresource?: string } };
    const exec = await eventually(() => recorded<Rec>().find((rec) => rec.type === 'exec'), 10000, 'exec record in the session file');
    expect(exec.asciicast).toBeDefined();
    expect(cast.endsWith(exec.asciicast!)).toBe(true); // the recorder keeps the path relative to its directory
    expect(exec.request.subresource).toBe('exec');
  });

  // (kwok's exec does not see stdin EOF, with or without the proxy, so these commands read no stdin.)
  it('runs a command through the proxy over SPDY/3.1', async () => {
    const env = { ...process.env, KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' };
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(testEnv().kubectl, ['--kubeconfig', kc, '-n', ns, 'exec', pod, '--', 'sh', '-c', 'echo spdy-$((6*7)); echo spdy-err >&2'], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('spdy-42');
    expect(out.stderr).toContain('spdy-err');
  });

  it('refuses exec into a protected pod with the policy message, for both protocols', async () => {
    for (const ws of ['true', 'false']) {
      const child = spawn(testEnv().kubectl, ['--kubeconfig', kc, '-n', ns, 'exec', lockedPod, '--', 'id'], { env: { ...process.env, KUBECTL_REMOTE_COMMAND_WEBSOCKETS: ws } });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).not.toBe(0);
      expect(stderr).toContain('this pod is off limits');
    }
  });

  it('refuses attach, and port-forward to a protected pod, before any stream is opened', async () => {
    const attach = await kubectl(['-n', ns, 'attach', pod, '-c', 'app'], { kubeconfig: kc, timeoutMs: 20000 });
    expect(attach.code).not.toBe(0);
    expect(attach.stderr).toContain('attach is not allowed');
    const pf = await kubectl(['-n', ns, 'port-forward', `pod/${lockedPod}`, '0:80', '--address', '127.0.0.1'], { kubeconfig: kc, timeoutMs: 20000 });
    expect(pf.code).not.toBe(0);
    expect(pf.stderr).toContain('this pod is off limits');
  });

  it('port-forward streams through the proxy (kwok echoes every forwarded port)', async () => {
    const child = spawn(testEnv().kubectl, ['--kubeconfig', kc, '-n', ns, 'port-forward', `pod/${pod}`, '0:8080', '--address', '127.0.0.1']);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      const port = Number(await eventually(() => /Forwarding from 127\.0\.0\.1:(\d+)/u.exec(out)?.[1], 15000, 'port-forward listening'));
      const echoed = await new Promise<string>((resolve, reject) => {
        const sock = connect(port, '127.0.0.1', () => sock.write('ping through airlock\n'));
        let got = '';
        sock.on('data', (d: Buffer) => {
          got += d.toString();
          if (got.includes('\n')) {
            sock.destroy();
            resolve(got);
          }
        });
        sock.on('error', reject);
        setTimeout(() => reject(new Error(`no echo (got ${JSON.stringify(got)})`)), 10000).unref();
      });
      expect(echoed).toBe('ping through airlock\n');
    } finally {
      await stopChild(child);
    }
  });
});

describe('masked reads', () => {
  it('Secret values are masked in get, list (JSON and table) and watch through the proxy', async () => {
    const admin = await clientFor('admin');
    await admin.create(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 'hunter2-but-longer' } });
    const raw = Buffer.from('hunter2-but-longer').toString('base64');
    const one = await kubectl(['-n', ns, 'get', 'secret', 'db', '-o', 'json'], { kubeconfig: kc });
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout).metadata.name).toBe('db');
    expect(one.stdout).not.toContain(raw);
    const list = await kubectl(['-n', ns, 'get', 'secrets', '-o', 'yaml'], { kubeconfig: kc });
    expect(list.stdout).toContain('name: db');
    expect(list.stdout).not.toContain(raw);
    const table = await kubectl(['-n', ns, 'get', 'secrets'], { kubeconfig: kc });
    expect(table.stdout).toMatch(/db\s+Opaque\s+1/);
    const watch = await kubectl(['-n', ns, 'get', 'secrets', '--watch', '-o', 'json', '--request-timeout=3s'], { kubeconfig: kc, timeoutMs: 15000 });
    expect(watch.stdout).toContain('"name": "db"');
    expect(watch.stdout).not.toContain(raw);
  });
});

describe('logs', () => {
  it('kubectl logs streams through the proxy with secrets masked', async () => {
    const r = await kubectl(['-n', ns, 'logs', pod], { kubeconfig: kc });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('starting app');
    expect(r.stdout).toContain('ready');
    expect(r.stdout).not.toContain('hunter2');
    expect(r.stdout).not.toContain('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    const direct = await kubectl(['-n', ns, 'logs', pod], { as: 'admin' });
    expect(direct.stdout).toContain('hunter2');
  });

  it('kubectl logs -f delivers lines while the stream stays open', async () => {
    const child = spawn(testEnv().kubectl, ['--kubeconfig', kc, '-n', ns, 'logs', '-f', pod]);
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    try {
      await eventually(() => stdout.includes('ready'), 10000, 'followed log lines');
      expect(child.exitCode).toBeNull(); // still following
      expect(stdout).not.toContain('hunter2');
    } finally {
      await stopChild(child);
    }
  });
});

describe('recordings hold no credentials the agent sent', () => {
  it('a ConfigMap carrying a password pattern and an AWS key is recorded masked', async () => {
    const key = 'AKIAIOSFODNN7EXAMPLE';
    const r = await kubectl(['-n', ns, 'create', 'configmap', 'leaky', `--from-literal=aws=${key}`, '--from-literal=db=pw-hunter2-pw'], { kubeconfig: kc });
    expect(r.code).toBe(0);
    type Rec = { method: string; request: { resource?: string }; requestBody?: { data?: Record<string, string> } };
    const rec = await eventually(
      () => recorded<Rec>().find((x) => x.method === 'POST' && x.request.resource === 'configmaps' && x.requestBody?.data?.aws !== undefined),
      10000,
      'the configmap create record',
    );
    expect(JSON.stringify(rec)).not.toContain(key);
    expect(JSON.stringify(rec)).not.toContain('hunter2');
    expect(rec.requestBody!.data!.aws).toMatch(/airlock-masked/);
  });
});
