// Webhook benchmark: latency (p50, p99) and throughput of AdmissionReviews posted over HTTPS (keep-alive,
// loopback) to the webhook, at concurrency 1 and 50, deciding with the real Engine and the default agent
// policy (examples/default-agent-policy.yaml). Request mix: a Deployment (admitted), a privileged Pod
// (denied, field path in the message), a ConfigMap update, and a request by an identity no policy governs.
// Holds are not in the mix: their cost is the API server round trips of the approval service.
//
//   npx tsc -p . && node dist/bench/webhook.bench.js [--requests 4000]
import * as https from 'node:https';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import type { AgentPolicy } from '../src/api/types.js';
import { createCA, createServingCert } from '../src/operator/certs.js';
import { Engine } from '../src/policy/engine.js';
import { startWebhook } from '../src/webhook/server.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, here.includes('/dist/') ? '../..' : '..');
const argIdx = process.argv.indexOf('--requests');
const TOTAL = Math.min(100_000, Math.max(100, argIdx > 0 ? Number(process.argv[argIdx + 1]) : 4000));

const container = (i: number, privileged = false) => ({
  name: `c${i}`, image: `registry.example.com/team/app-${i}@sha256:${'ab'.repeat(32)}`,
  ports: [{ containerPort: 8080 + i }], env: Array.from({ length: 8 }, (_, k) => ({ name: `VAR_${k}`, value: `value-${k}` })),
  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
  securityContext: privileged ? { privileged: true } : { runAsNonRoot: true, allowPrivilegeEscalation: false },
});
const deployment = {
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'apps', labels: { app: 'web', team: 'payments' }, annotations: { 'example.com/owner': 'payments' } },
  spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { serviceAccountName: 'web', containers: [container(0), container(1)] } } },
};
const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug', namespace: 'apps' }, spec: { containers: [container(0, true)] } };
const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'apps' }, data: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`key${i}`, `value ${i}`.repeat(8)])) };

const reviews = [
  { group: 'apps', resource: 'deployments', kind: 'Deployment', op: 'CREATE', user: 'agent-ci', object: deployment, old: null },
  { group: '', resource: 'pods', kind: 'Pod', op: 'CREATE', user: 'agent-ci', object: pod, old: null },
  { group: '', resource: 'configmaps', kind: 'ConfigMap', op: 'UPDATE', user: 'agent-ci', object: cm, old: cm },
  { group: 'apps', resource: 'deployments', kind: 'Deployment', op: 'UPDATE', user: 'argocd', object: deployment, old: deployment },
].map((r, i) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
    request: {
      uid: `uid-${i}`, kind: { group: r.group, version: 'v1', kind: r.kind }, resource: { group: r.group, version: 'v1', resource: r.resource },
      namespace: 'apps', name: (r.object.metadata as { name: string }).name, operation: r.op,
      userInfo: { username: r.user, uid: `uid-${r.user}`, groups: ['airlock:agents', 'system:authenticated'] },
      object: r.object, oldObject: r.old, dryRun: false, options: { kind: r.op === 'CREATE' ? 'CreateOptions' : 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  }),
);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const engine = new Engine();
  const policy = yaml.load(readFileSync(resolve(repoRoot, 'examples/default-agent-policy.yaml'), 'utf8')) as AgentPolicy;
  const res = await engine.upsert(policy);
  if (!res.ok) throw new Error(`default policy does not compile: ${res.errors.join('; ')}`);
  const ca = createCA('bench', 3600e3);
  const leaf = createServingCert(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], lifetimeMs: 3600e3 });
  const wh = await startWebhook({ engine, tls: { cert: leaf.certPem, key: leaf.keyPem } });
  const url = new URL('/validate', wh.url);
  console.log(`webhook benchmark: ${TOTAL} AdmissionReviews per run over HTTPS keep-alive on loopback; bodies ${reviews.map((r) => r.length).join('/')} bytes`);
  const outcomes = { allowed: 0, denied: 0 };

  for (const concurrency of [1, 50]) {
    const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: ca.certPem });
    const post = (body: string): Promise<number> =>
      new Promise((resolveP, reject) => {
        const t0 = process.hrtime.bigint();
        const req = https.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (r) => {
          let text = '';
          r.setEncoding('utf8');
          r.on('data', (c: string) => (text += c));
          r.on('end', () => {
            if (r.statusCode !== 200) return reject(new Error(`HTTP ${r.statusCode}: ${text.slice(0, 200)}`));
            (JSON.parse(text) as { response: { allowed: boolean } }).response.allowed ? outcomes.allowed++ : outcomes.denied++;
            resolveP(Number(process.hrtime.bigint() - t0) / 1e6);
          });
        });
        req.on('error', reject);
        req.end(body);
      });
    // Warm up (TLS handshakes, JIT).
    await Promise.all(Array.from({ length: Math.max(200, concurrency * 4) }, (_, i) => post(reviews[i % reviews.length]!)));
    outcomes.allowed = outcomes.denied = 0;
    const lat: number[] = [];
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < TOTAL) {
          const i = next++;
          lat.push(await post(reviews[i % reviews.length]!));
        }
      }),
    );
    const secs = Number(process.hrtime.bigint() - started) / 1e9;
    lat.sort((a, b) => a - b);
    console.log(
      `concurrency ${String(concurrency).padStart(2)}: p50 ${pct(lat, 50).toFixed(2)} ms  p90 ${pct(lat, 90).toFixed(2)} ms  p99 ${pct(lat, 99).toFixed(2)} ms  max ${lat[lat.length - 1]!.toFixed(2)} ms  ` +
        `${Math.round(TOTAL / secs)} reviews/s  (allowed ${outcomes.allowed}, denied ${outcomes.denied})`,
    );
    agent.destroy();
  }
  await wh.close();
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
