// A generative attack on exec through the proxy as shipped (default policy, masking and recording on): a
// seeded generator builds argvs from read-only programs, flags and paths (files holding the pod's Secret
// values plain and encoded, credential mounts, climbing and relative paths), with random stdin/tty flags
// and subprotocols, and runs them over WebSocket against a pod on kwok's fake node (its exec runs on this
// machine, so the vocabulary holds nothing that writes). Fails on any canary, in any encoding, in anything
// the agent received or in the recordings, and on any stream opened for a command the policy must hold.
// AIRLOCK_EXEC_FUZZ_COUNT / AIRLOCK_FUZZ_SEED change the run.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { clientFor, testEnv, uniqueName } from '../helpers/env.js';
import { canariesInRecordings, canaryValue, EXEC_ENV_CANARY as ENV_CANARY, findCanary, plantExecTarget, startShippedProxy, type ShippedProxy } from '../helpers/hostile.js';
import { mulberry32 } from '../helpers/random.js';

const COUNT = Number(process.env.AIRLOCK_EXEC_FUZZ_COUNT ?? 400);
const SEED = Number(process.env.AIRLOCK_FUZZ_SEED ?? 20261202);
const CONCURRENCY = 4;

let proxy: ShippedProxy;
const ns = uniqueName('execfz');
const pod = 'app';
const secretCanary = canaryValue('sec');
const configCanary = canaryValue('cfg');
const dir = join(testEnv().dir, 'kwok', `exec-fuzz-${ns}`);
const canaries = [ENV_CANARY, secretCanary, configCanary];

const pick = <T,>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

// Read-only programs only: kwok runs whatever the proxy lets through on this machine.
const PROGRAMS = ['cat', 'head', 'tail', 'ls', 'env', 'printenv', 'wc', 'stat', 'tar', 'grep', 'od', 'base64', 'xxd', 'sort', 'uniq', 'cut', 'strings',
  'rev', 'fold', 'nl', 'tac', 'ps', 'id', 'date', 'uname', 'hostname', 'pwd', 'true', '/bin/cat', '/usr/bin/head', './cat', 'busybox'];
const WRAPPERS = [[], [], [], ['env'], ['env', 'LC_ALL=C'], ['nice'], ['timeout', '5'], ['command'], ['busybox']];
const FLAGS = ['-n', '1', '-n', '+1', '-c', '8', '-A', '-v', '-la', '-x', '-', '--', 'cf', '-r', '-e', 'password', 'cnry', '--null', '-z', 'DB_PASSWORD', 'AIRLOCK_EXEC_CANARY'];

function paths(): string[] {
  return [
    join(dir, 'password'), join(dir, 'password.b64'), join(dir, 'password.json'), join(dir, 'app.yaml'), join(dir, 'hex'), dir,
    `${dir}/./password`, `${dir}//password`, `${dir}/../${dir.split('/').pop()}/password`, '/etc/secret-volume/password', '/etc/secret-volume/..data/password',
    '/var/run/secrets/kubernetes.io/serviceaccount/token', '/run/secrets/x', '/proc/self/environ', '/proc/1/environ', 'password', '../password', '.', '/',
  ];
}

/** Shapes the default policy's debugging list allows, filled with random paths: half the execs really run. */
const ALLOWED_SHAPES: ((p: string) => string[])[] = [
  (p) => ['cat', p], (p) => ['head', p], (p) => ['head', '-n', '2', p], (p) => ['tail', '-n', '+1', p], (p) => ['tar', 'cf', '-', p],
  (p) => ['ls', '-la', p], (p) => ['stat', p], (p) => ['wc', '-c', p], () => ['env'], () => ['printenv', 'AIRLOCK_EXEC_CANARY'], () => ['printenv'],
  (p) => ['/bin/cat', p], () => ['ps', '-A'],
];

function argv(r: () => number): string[] {
  if (r() < 0.5) return pick(r, ALLOWED_SHAPES)(pick(r, paths()));
  const out = [...pick(r, WRAPPERS), pick(r, PROGRAMS)];
  const n = Math.floor(r() * 4);
  for (let i = 0; i < n; i++) out.push(r() < 0.55 ? pick(r, paths()) : pick(r, FLAGS));
  return out;
}

interface Outcome { status: number | 'closed'; bytes: Buffer; argv: string[]; query: string }

/** Runs one exec over WebSocket through the proxy: the upgrade's answer and every byte of every frame. */
function execOnce(r: () => number): Promise<Outcome> {
  const args = argv(r);
  const q = new URLSearchParams();
  for (const a of args) q.append('command', a);
  q.set('stdout', 'true');
  if (r() < 0.5) q.set('stderr', 'true');
  if (r() < 0.15) q.set('stdin', 'true');
  if (r() < 0.1) q.set('tty', 'true');
  const protocols = pick(r, [['v5.channel.k8s.io'], ['v4.channel.k8s.io'], ['v5.channel.k8s.io', 'base64.channel.k8s.io'], ['base64.channel.k8s.io'], ['channel.k8s.io']]);
  const url = `${proxy.url.replace('https', 'wss')}/api/v1/namespaces/${ns}/pods/${pod}/exec?${q.toString()}`;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let status: number | 'closed' = 'closed';
    const ws = new WebSocket(url, protocols, {
      ca: readFileSync(proxy.caFile),
      headers: { authorization: `Bearer ${testEnv().tokens['agent-ci']}` },
      perMessageDeflate: true, // offered; the proxy must not let it be negotiated
      handshakeTimeout: 10_000,
    });
    const done = () => resolve({ status, bytes: Buffer.concat(chunks), argv: args, query: q.toString() });
    const timer = setTimeout(() => ws.terminate(), 8_000);
    ws.on('unexpected-response', (_req, res) => {
      status = res.statusCode ?? 0;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        done();
      });
    });
    ws.on('upgrade', () => (status = 101));
    ws.on('message', (data: Buffer) => chunks.push(Buffer.from(data)));
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearTimeout(timer);
      if (status === 101 || status === 'closed') done();
    });
  });
}

beforeAll(async () => {
  proxy = await startShippedProxy();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'password'), `${secretCanary}\n`);
  writeFileSync(join(dir, 'password.b64'), `${Buffer.from(secretCanary).toString('base64')}\n`);
  writeFileSync(join(dir, 'password.json'), `${JSON.stringify({ db: { pass: secretCanary, env: ENV_CANARY } })}\n`);
  writeFileSync(join(dir, 'hex'), `${Buffer.from(ENV_CANARY).toString('hex')}\n`);
  writeFileSync(join(dir, 'app.yaml'), `mode: fast\ndatabase:\n  password: ${configCanary}\n`);
  await plantExecTarget(ns, pod, { fileValue: secretCanary, configValue: configCanary });
}, 90_000);

afterAll(async () => {
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
  await (await clientFor('admin')).delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

/** Commands the default policy lets run without approval: everything else must never get a stream. */
function mayRun(o: Outcome): boolean {
  const q = new URLSearchParams(o.query);
  if (q.get('stdin') === 'true' || q.get('tty') === 'true') return false;
  const program = o.argv[0]!.split('/').pop()!;
  return ['cat', 'head', 'tail', 'ls', 'env', 'printenv', 'wc', 'stat', 'tar', 'ps', 'id', 'date', 'uname', 'hostname', 'pwd'].includes(program);
}

describe('exec, generated', () => {
  it(`${COUNT} generated execs (seed ${SEED}) leak no canary and open no stream for a command that needs approval`, async () => {
    const r = mulberry32(SEED);
    const statuses = new Map<string, number>();
    const problems: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < COUNT) {
        next++;
        const o = await execOnce(r);
        statuses.set(String(o.status), (statuses.get(String(o.status)) ?? 0) + 1);
        const leak = findCanary(o.bytes, canaries);
        if (leak) problems.push(`leak ${leak}: ${JSON.stringify(o.argv)} ${o.query}`);
        if (o.status === 101 && !mayRun(o)) problems.push(`stream opened for ${JSON.stringify(o.argv)} ${o.query}`);
        if (typeof o.status === 'number' && o.status >= 500) problems.push(`HTTP ${o.status} for ${JSON.stringify(o.argv)}: ${o.bytes.toString().slice(0, 300)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
    process.stdout.write(`exec fuzz: ${[...statuses].map(([k, v]) => `${k}×${v}`).join(', ')}\n`);
    expect(problems).toEqual([]);
    // Some commands ran, some were refused: the generator reaches both sides.
    expect(statuses.get('101') ?? 0).toBeGreaterThan(COUNT / 5);
    expect(statuses.get('403') ?? 0).toBeGreaterThan(COUNT / 10);
    expect(canariesInRecordings(proxy.recordings, canaries)).toEqual([]);
  }, 600_000);
});
