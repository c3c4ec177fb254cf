// Real Airlock processes (dist/src/main/index.js) on a private control plane: for tests that kill, pause
// or starve them (the shared control plane of the suite must never be paused).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../src/k8s/client.js';
import { ensureBuilt, ROOT } from './build.js';
import { eventually, run, type RunResult } from './env.js';

export interface ClusterEnv { server: string; caFile: string; caKeyFile: string; kubectl: string; pids: string; kubeconfigs: Record<string, string>; tokens: Record<string, string> }

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

export interface PrivateCluster {
  dir: string;
  env: ClusterEnv;
  admin: KubeClient;
  kubectl(kubeconfig: string, args: string[]): Promise<RunResult>;
  /** pid of one of the control plane's processes (kube-apiserver, etcd, ...). */
  pid(component: string): number;
  down(): void;
}

/** A control plane of its own (hack/cluster.sh) with the airlock-system namespace and a proxy certificate. */
export async function startPrivateCluster(prefix: string): Promise<PrivateCluster> {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), `airlock-${prefix}-`));
  execFileSync('bash', [join(ROOT, 'hack/cluster.sh'), 'up', join(dir, 'cluster')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const env = JSON.parse(readFileSync(join(dir, 'cluster/env.json'), 'utf8')) as ClusterEnv;
  const admin = await KubeClient.load(env.kubeconfigs.admin);
  await admin.create('/api/v1/namespaces', { metadata: { name: 'airlock-system' } });
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=airlock-proxy', '-keyout', join(dir, 'proxy.key'), '-out', join(dir, 'proxy.csr')], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'proxy.csr'), '-CA', env.caFile, '-CAkey', env.caKeyFile, '-CAcreateserial', '-CAserial', join(dir, 'srl'), '-days', '1', '-extfile', join(dir, 'ext'), '-out', join(dir, 'proxy.crt')], { stdio: 'ignore' });
  return {
    dir,
    env,
    admin,
    kubectl: (kubeconfig, args) => run(env.kubectl, ['--kubeconfig', kubeconfig, ...args]),
    pid: (component) => Number(readFileSync(join(dir, 'cluster/pids', `${component}.pid`), 'utf8').trim()),
    down: () => {
      execFileSync('bash', [join(ROOT, 'hack/cluster.sh'), 'down', join(dir, 'cluster')], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface AirlockProcess {
  id: string;
  proc: ChildProcess;
  proxyPort: number;
  webhookPort: number;
  healthPort: number;
  metricsPort: number;
  recordingDir: string;
  /** A kubeconfig for agent-ci pointed at this process's proxy. */
  agentKubeconfig: string;
  /** Prometheus text of its /metrics. */
  metrics(): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface AirlockProcessOptions {
  id: string;
  recordingDir: string;
  /** Register the webhook (by URL, failurePolicy Fail) from this process. */
  webhook?: boolean;
  /** The operator's own kubeconfig (default: the cluster's airlock user). */
  kubeconfig?: string;
  extraArgs?: string[];
}

/** Starts Airlock as shipped (operator + webhook + proxy in one process) and waits until it is ready. */
export async function startAirlock(c: PrivateCluster, o: AirlockProcessOptions): Promise<AirlockProcess> {
  const [proxyPort, webhookPort, healthPort, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const log = openSync(join(c.dir, `${o.id}.log`), 'a');
  const proc = spawn(process.execPath, [
    join(ROOT, 'dist/src/main/index.js'),
    '--kubeconfig', o.kubeconfig ?? c.env.kubeconfigs.airlock!, '--namespace', 'airlock-system', '--identity', o.id, '--bind-address', '127.0.0.1',
    '--proxy-port', String(proxyPort), '--proxy-cert', join(c.dir, 'proxy.crt'), '--proxy-key', join(c.dir, 'proxy.key'),
    '--webhook-port', String(webhookPort),
    ...(o.webhook === false ? ['--webhook-enabled', 'false'] : ['--webhook-url', `https://127.0.0.1:${webhookPort}/validate`, '--failure-policy', 'Fail']),
    '--health-port', String(healthPort), '--metrics-port', String(metricsPort), '--recording-dir', o.recordingDir,
    ...(o.extraArgs ?? []),
  ], { stdio: ['ignore', log, log] });
  const agentKubeconfig = join(c.dir, `agent-${o.id}.kubeconfig`);
  writeFileSync(agentKubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'a',
    clusters: [{ name: 'p', cluster: { server: `https://127.0.0.1:${proxyPort}`, 'certificate-authority': c.env.caFile } }],
    users: [{ name: 'agent', user: { token: c.env.tokens['agent-ci'] } }],
    contexts: [{ name: 'a', context: { cluster: 'p', user: 'agent' } }],
  }));
  await eventually(async () => {
    if (proc.exitCode !== null) throw new Error(`airlock ${o.id} exited with ${proc.exitCode}; see ${join(c.dir, `${o.id}.log`)}`);
    return (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.ok ?? false;
  }, 60000, `airlock ${o.id} ready`);
  return {
    id: o.id, proc, proxyPort, webhookPort, healthPort, metricsPort, recordingDir: o.recordingDir, agentKubeconfig,
    metrics: async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    kill: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await exited;
    },
  };
}

/** The value of one Prometheus series, named exactly with its labels (e.g. `x_total{kind="write"}`). */
export function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : undefined;
}
