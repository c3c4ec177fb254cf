// Access to the control plane started by global-setup: clients and kubectl for each test identity.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { KubeClient } from '../../src/k8s/client.js';

export type TestUser = 'admin' | 'airlock' | 'agent-ci' | 'alice' | 'bob' | 'mallory';

export interface TestEnv {
  dir: string;
  server: string;
  caFile: string;
  caKeyFile: string;
  binDir: string;
  kubectl: string;
  tokens: Record<TestUser, string>;
  kubeconfigs: Record<TestUser, string>;
  pids: string;
}

let cached: TestEnv | undefined;
export function testEnv(): TestEnv {
  if (cached) return cached;
  const path = process.env.AIRLOCK_TEST_ENV;
  if (!path) throw new Error('AIRLOCK_TEST_ENV is not set: integration tests run under jest globalSetup');
  cached = JSON.parse(readFileSync(path, 'utf8')) as TestEnv;
  return cached;
}

const clients = new Map<string, Promise<KubeClient>>();
export function clientFor(user: TestUser = 'admin'): Promise<KubeClient> {
  let c = clients.get(user);
  if (!c) {
    c = KubeClient.load(testEnv().kubeconfigs[user]);
    clients.set(user, c);
  }
  return c;
}

export interface RunResult { code: number; stdout: string; stderr: string }

/** Runs a command, resolving with its exit code and output (never rejects on a non-zero exit). */
export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs the control plane's own kubectl (built at the server's version) with a kubeconfig. */
export function kubectl(args: string[], opts: { kubeconfig?: string; as?: TestUser; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const env = testEnv();
  const kubeconfig = opts.kubeconfig ?? env.kubeconfigs[opts.as ?? 'admin'];
  return run(env.kubectl, ['--kubeconfig', kubeconfig, ...args], { input: opts.input, timeoutMs: opts.timeoutMs });
}

/** Polls fn until it returns a truthy value or the timeout passes. */
export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let counter = 0;
/** A unique DNS-1123 name for test objects. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}-${(Date.now() % 1e6).toString(36)}-${(counter++).toString(36)}`;
}
