// Policy engine benchmark: decisions/s and p50/p99 decision time for 1, 10 and 100 policies on a realistic
// request mix. Run either way:
//   node --experimental-strip-types bench/policy.bench.ts
//   npx tsc -p . && node dist/bench/policy.bench.js
// Every policy is a copy of examples/default-agent-policy.yaml naming the same agent (the worst case:
// each decision evaluates all of them); half are scoped to namespaces.
import { registerHooks } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');
if (fromSource) {
  // Running the TypeScript sources directly: map the ESM `./x.js` specifiers to `./x.ts`.
  registerHooks({
    resolve(specifier, context, next) {
      try {
        return next(specifier, context);
      } catch (e) {
        if (specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);
        throw e;
      }
    },
  });
}
const repo = fromSource ? join(here, '..') : join(here, '..', '..');
const ext = fromSource ? '.ts' : '.js';
const { Engine } = (await import(`../src/policy/engine${ext}`)) as typeof import('../src/policy/engine.js');
const { RateLimiter } = (await import(`../src/budgets/rate-limiter${ext}`)) as typeof import('../src/budgets/rate-limiter.js');
const yaml = (await import('js-yaml')).default;
type RequestAttributes = import('../src/policy/types.js').RequestAttributes;
type AgentPolicy = import('../src/api/types.js').AgentPolicy;

const base = yaml.load(readFileSync(join(repo, 'examples/default-agent-policy.yaml'), 'utf8')) as AgentPolicy;
const user = { username: 'agent-ci', groups: ['airlock:agents', 'system:authenticated'] };

function policies(n: number): AgentPolicy[] {
  return Array.from({ length: n }, (_, i) => {
    const p = structuredClone(base);
    p.metadata = { name: `policy-${String(i).padStart(3, '0')}` };
    if (i % 2 === 1) p.spec.namespaces = [`team-*`, `ns-${i}-*`];
    return p;
  });
}

const container = (i: number, extra: Record<string, unknown> = {}) => ({
  name: `c${i}`, image: `ghcr.io/example/svc-${i}:1.${i}.0`, ports: [{ containerPort: 8080 + i }],
  env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }],
  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
  readinessProbe: { httpGet: { path: '/healthz', port: 8080 + i } },
  ...extra,
});
const deployment = (privileged: boolean) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'team-a', labels: { app: 'web' } },
  spec: {
    replicas: 3, selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 10001 },
        initContainers: [container(9)],
        containers: [container(0), container(1), container(2, privileged ? { securityContext: { privileged: true } } : {})],
        volumes: [{ name: 'cfg', configMap: { name: 'web' } }],
      },
    },
  },
});
const common = { user, isResourceRequest: true, apiVersion: 'v1', via: 'proxy' as const };
const MIX: { what: string; req: RequestAttributes }[] = [
  { what: 'create Deployment (4 containers)', req: { ...common, verb: 'create', apiGroup: 'apps', resource: 'deployments', namespace: 'team-a', object: deployment(false) } },
  { what: 'create privileged Deployment', req: { ...common, verb: 'create', apiGroup: 'apps', resource: 'deployments', namespace: 'team-a', object: deployment(true) } },
  { what: 'patch Deployment', req: { ...common, verb: 'patch', apiGroup: 'apps', resource: 'deployments', namespace: 'team-a', name: 'web', object: deployment(false), oldObject: deployment(false) } },
  { what: 'create ClusterRoleBinding cluster-admin', req: { ...common, verb: 'create', apiGroup: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', object: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'x' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'agent-ci' }] } } },
  { what: 'create RoleBinding view', req: { ...common, verb: 'create', apiGroup: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: 'team-a', object: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'x', namespace: 'team-a' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: 'team-a' }] } } },
  { what: 'get Secret', req: { ...common, verb: 'get', apiGroup: '', resource: 'secrets', namespace: 'team-a', name: 'db' } },
  { what: 'list Secrets', req: { ...common, verb: 'list', apiGroup: '', resource: 'secrets', namespace: 'team-a' } },
  { what: 'exec into pod', req: { ...common, verb: 'create', apiGroup: '', resource: 'pods', subresource: 'exec', namespace: 'team-a', name: 'web-1' } },
  { what: 'list pods', req: { ...common, verb: 'list', apiGroup: '', resource: 'pods', namespace: 'team-a' } },
  { what: 'watch events', req: { ...common, verb: 'watch', apiGroup: '', resource: 'events', namespace: 'team-a' } },
];

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const ITER = Number(process.env.BENCH_ITERATIONS ?? 20000);
console.log(`policy engine benchmark: ${ITER} decisions per run, mix of ${MIX.length} requests (${MIX.map((m) => m.what).join('; ')})`);
console.log(`node ${process.version}, ${fromSource ? 'TypeScript sources (strip-types)' : 'compiled dist/'}`);
console.log('limits: per request, the rate limits (engine.rateLimitsFor + a token bucket) and the budgets it counts against (engine.budgetsFor)');
console.log('policies  decisions/s  p50 (µs)  p99 (µs)  max (µs)  limits p50 (µs)  limits p99 (µs)  actions');
for (const n of [1, 10, 100]) {
  const engine = new Engine();
  for (const p of policies(n)) {
    const r = await engine.upsert(p);
    if (!r.ok) throw new Error(`policy failed to compile: ${r.errors.join('; ')}`);
  }
  for (let i = 0; i < 5000; i++) engine.decide(MIX[i % MIX.length]!.req); // warm-up (JIT)
  const times = new Float64Array(ITER);
  const actions = new Map<string, number>();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ITER; i++) {
    const s = process.hrtime.bigint();
    const d = engine.decide(MIX[i % MIX.length]!.req);
    times[i] = Number(process.hrtime.bigint() - s) / 1000;
    actions.set(d.action, (actions.get(d.action) ?? 0) + 1);
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e9;
  // The limits stages on the same mix (a limiter whose buckets never run dry: what is measured is the lookup).
  const limiter = new RateLimiter();
  const limitTimes = new Float64Array(ITER);
  for (let i = 0; i < ITER; i++) {
    const req = MIX[i % MIX.length]!.req;
    const s = process.hrtime.bigint();
    const limits = engine.rateLimitsFor(req.user);
    if (limits) limiter.admit({ agent: req.user.username, verbClass: 'read', longRunning: true }, { ...limits, read: { qps: 1e6, burst: 1e6 } });
    engine.budgetsFor(req);
    limitTimes[i] = Number(process.hrtime.bigint() - s) / 1000;
  }
  const limitSorted = Array.from(limitTimes).sort((a, b) => a - b);
  const sorted = Array.from(times).sort((a, b) => a - b);
  const acts = [...actions].map(([a, c]) => `${a}=${c}`).join(' ');
  console.log(`${String(n).padStart(8)}  ${Math.round(ITER / total).toString().padStart(11)}  ${pct(sorted, 50).toFixed(1).padStart(8)}  ${pct(sorted, 99).toFixed(1).padStart(8)}  ${sorted[sorted.length - 1]!.toFixed(0).padStart(8)}  ${pct(limitSorted, 50).toFixed(1).padStart(15)}  ${pct(limitSorted, 99).toFixed(1).padStart(15)}  ${acts}`);
}
