// Benchmark: the same get/list request mix against kube-apiserver directly and through the Airlock proxy,
// in one run, on loopback. Prints added latency (p50, p99) at a fixed offered rate, the throughput ratio
// at a fixed concurrency, and the proxy's RSS (the proxy runs in its own child process).
//
//   npm run build && node dist/bench/proxy.bench.js [--rate 500] [--seconds 10] [--concurrency 16]
//
// Uses AIRLOCK_TEST_ENV (a running control plane's env.json) when set; otherwise starts one with
// hack/cluster.sh in a temporary directory and stops it at the end.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { KubeClient } from '../src/k8s/client.js';
import type { AgentPolicy } from '../src/api/types.js';
import type { PolicyEngine } from '../src/policy/types.js';
import { startProxy } from '../src/proxy/server.js';
import { TokenReviewAuthenticator, unionAuthenticator } from '../src/proxy/auth/index.js';

interface Env { server: string; caFile: string; caKeyFile: string; tokens: Record<string, string>; kubeconfigs: Record<string, string> }

/** The repository root: the nearest directory above this file (source or build output) with hack/cluster.sh. */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'hack/cluster.sh'))) return dir;
    const up = resolve(dir, '..');
    if (up === dir) return process.cwd();
    dir = up;
  }
}
const repoRoot = findRepoRoot();

function flag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const BENCH_POLICY: AgentPolicy = {
  apiVersion: 'airlock.dev/v1alpha1',
  kind: 'AgentPolicy',
  metadata: { name: 'bench' },
  spec: {
    agents: { users: ['agent-ci'] },
    defaultAction: 'deny',
    rules: [
      { name: 'no-secrets', match: { apiGroups: [''], resources: ['secrets'], verbs: ['*'] }, action: 'deny' },
      { name: 'read', match: { apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list', 'watch'] }, action: 'allow' },
    ],
    recording: { enabled: false, bodies: false },
  },
};

/** Child mode: run the proxy and print its port. */
async function child(envFile: string): Promise<void> {
  const env = JSON.parse(readFileSync(envFile, 'utf8')) as Env;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-'));
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=bench', '-keyout', join(dir, 'k'), '-out', join(dir, 'csr')], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'csr'), '-CA', env.caFile, '-CAkey', env.caKeyFile, '-CAcreateserial', '-CAserial', join(dir, 'srl'), '-days', '1', '-extfile', join(dir, 'ext'), '-out', join(dir, 'crt')], { stdio: 'ignore' });
  const upstream = await KubeClient.load(env.kubeconfigs.airlock);
  const { Engine } = (await import('../src/policy/engine.js')) as { Engine: new () => PolicyEngine };
  const engine = new Engine();
  const compiled = await engine.upsert(BENCH_POLICY);
  if (!compiled.ok) throw new Error(compiled.errors.join('; '));
  const proxy = await startProxy({
    listen: { host: '127.0.0.1', port: 0 },
    tls: { cert: readFileSync(join(dir, 'crt')), key: readFileSync(join(dir, 'k')) },
    upstream,
    engine,
    auth: unionAuthenticator({ tokens: [new TokenReviewAuthenticator(upstream)] }),
  });
  process.stdout.write(`PORT ${proxy.port}\n`);
  process.on('SIGTERM', () => {
    void proxy.close().then(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/u.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

class Target {
  readonly agent: https.Agent;
  constructor(readonly base: URL, ca: Buffer, readonly token: string) {
    this.agent = new https.Agent({ ca, keepAlive: true, maxSockets: 64 });
  }
  /** One request; resolves with the latency in ms (rejects on a non-200 answer). */
  once(path: string): Promise<number> {
    const start = process.hrtime.bigint();
    return new Promise((resolveP, reject) => {
      const req = https.request({ hostname: this.base.hostname, port: this.base.port, path, agent: this.agent, headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${path}: HTTP ${res.statusCode}`));
          else resolveP(Number(process.hrtime.bigint() - start) / 1e6);
        });
      });
      req.on('error', reject);
      req.end();
    });
  }
}

function mix(ns: string, i: number): string {
  return i % 2 === 0 ? `/api/v1/namespaces/${ns}/configmaps/cm-${i % 50}` : `/api/v1/namespaces/${ns}/configmaps?limit=20`;
}

/**
 * Open loop: offers `rate` requests/s to each target for `seconds`, alternating targets in 250 ms slices
 * so both see the same background noise.
 */
async function openLoop(targets: Target[], ns: string, rate: number, seconds: number): Promise<number[][]> {
  const lat: number[][] = targets.map(() => []);
  const interval = 1000 / rate;
  const perSlice = Math.max(1, Math.round(rate / 4));
  for (let s = 0; s < seconds * 4 * targets.length; s++) {
    const t = s % targets.length;
    const inflight: Promise<void>[] = [];
    const sliceStart = performance.now();
    for (let i = 0; i < perSlice; i++) {
      const due = sliceStart + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      inflight.push(targets[t]!.once(mix(ns, i)).then((ms) => void lat[t]!.push(ms)));
    }
    await Promise.all(inflight);
  }
  return lat.map((l) => l.sort((a, b) => a - b));
}

/** Closed loop: `concurrency` workers for `seconds`; returns requests/s. */
async function closedLoop(target: Target, ns: string, concurrency: number, seconds: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; performance.now() < end; i += concurrency) {
        await target.once(mix(ns, i));
        n++;
      }
    }),
  );
  return n / seconds;
}

async function main(): Promise<void> {
  const rate = flag('rate', 500);
  const seconds = flag('seconds', 10);
  const concurrency = flag('concurrency', 16);
  let envFile = process.env.AIRLOCK_TEST_ENV;
  let owned: string | undefined;
  if (!envFile) {
    owned = mkdtempSync(join(tmpdir(), 'airlock-bench-cluster-'));
    execFileSync('bash', [join(repoRoot, 'hack/cluster.sh'), 'up', owned], { stdio: ['ignore', 'ignore', 'inherit'] });
    envFile = join(owned, 'env.json');
  }
  let proxyProc: ChildProcess | undefined;
  try {
    const env = JSON.parse(readFileSync(envFile, 'utf8')) as Env;
    const admin = await KubeClient.load(env.kubeconfigs.admin);
    const ns = `bench-${process.pid}`;
    await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    for (let i = 0; i < 50; i++) {
      await admin.create(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}` }, data: { i: String(i), blob: 'x'.repeat(512) } });
    }
    proxyProc = spawn(process.execPath, [...(process.env.AIRLOCK_BENCH_NODE_FLAGS ? process.env.AIRLOCK_BENCH_NODE_FLAGS.split(' ') : []), ...(process.env.AIRLOCK_BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.AIRLOCK_BENCH_PROFILE] : []), fileURLToPath(import.meta.url), '--child', envFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolveP, reject) => {
      const rl = createInterface({ input: proxyProc!.stdout! });
      rl.on('line', (l) => {
        const m = /^PORT (\d+)$/u.exec(l);
        if (m) resolveP(Number(m[1]));
      });
      proxyProc!.on('exit', (c) => reject(new Error(`proxy child exited with ${c}`)));
    });
    const ca = readFileSync(env.caFile);
    const token = env.tokens['agent-ci']!;
    const direct = new Target(new URL(env.server), ca, token);
    const viaProxy = new Target(new URL(`https://127.0.0.1:${port}`), ca, token);
    // Warm up both paths (TLS sessions, token cache, JIT).
    await closedLoop(direct, ns, 8, 1);
    await closedLoop(viaProxy, ns, 8, 1);
    const rssBefore = rssOf(proxyProc.pid!);
    const [d, p] = await openLoop([direct, viaProxy], ns, rate, seconds);
    const tputDirect = await closedLoop(direct, ns, concurrency, 3);
    const tputProxy = await closedLoop(viaProxy, ns, concurrency, 3);
    const rssAfter = rssOf(proxyProc.pid!);
    const fmt = (x: number) => x.toFixed(3).padStart(8);
    const line = (name: string, l: number[]) => `${name.padEnd(8)} n=${String(l.length).padStart(5)}  p50 ${fmt(percentile(l, 50))} ms  p90 ${fmt(percentile(l, 90))} ms  p99 ${fmt(percentile(l, 99))} ms`;
    console.log(`proxy benchmark: get/list mix (50/50), ${rate} req/s offered, ${seconds} s per target, loopback`);
    console.log(line('direct', d!));
    console.log(line('proxy', p!));
    console.log(`added latency: p50 ${fmt(percentile(p!, 50) - percentile(d!, 50))} ms   p99 ${fmt(percentile(p!, 99) - percentile(d!, 99))} ms   (target: p99 < 1 ms)`);
    console.log(`throughput (${concurrency} concurrent): direct ${tputDirect.toFixed(0)} req/s, proxy ${tputProxy.toFixed(0)} req/s, ratio ${(tputProxy / tputDirect).toFixed(3)}`);
    console.log(`proxy RSS: ${(rssBefore / 1048576).toFixed(1)} MiB after warm-up, ${(rssAfter / 1048576).toFixed(1)} MiB at the end`);
    await admin.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
  } finally {
    proxyProc?.kill('SIGTERM');
    if (owned) {
      execFileSync('bash', [join(repoRoot, 'hack/cluster.sh'), 'down', owned], { stdio: 'ignore' });
      rmSync(owned, { recursive: true, force: true });
    }
  }
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) void child(process.argv[childAt + 1]!);
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
