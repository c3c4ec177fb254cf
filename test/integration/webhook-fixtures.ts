// Shared setup for the webhook and approval integration tests: a real Engine, the webhook over TLS with a
// certificate from ensureWebhookCerts, registered by URL in a ValidatingWebhookConfiguration scoped to
// namespaces (and Approvals) labelled for this test file only.
import type { AgentPolicy } from '../../src/api/types.js';
import { KubeApprovalService } from '../../src/approvals/service.js';
import { installCrds } from '../../src/operator/crds.js';
import { ensureWebhookCerts, type WebhookCerts } from '../../src/operator/certs.js';
import { deleteWebhookConfiguration, WebhookConfigSyncer } from '../../src/operator/webhook-config.js';
import type { Decision, PolicyEngine, RequestAttributes } from '../../src/policy/types.js';
import { KubeAuditSink } from '../../src/webhook/audit.js';
import { startWebhook, type WebhookOptions, type WebhookServer } from '../../src/webhook/server.js';
import type { KubeClient } from '../../src/k8s/client.js';
import { clientFor, eventually, uniqueName } from '../helpers/env.js';

export const SCOPE_LABEL = 'airlock.dev/test-scope';

export interface Fixture {
  id: string;
  systemNs: string;
  admin: KubeClient;
  airlock: KubeClient;
  engine: PolicyEngine;
  /** Whether the real src/policy/engine.ts is in use (else the fallback below). */
  realEngine: boolean;
  approvals: KubeApprovalService;
  audit: KubeAuditSink;
  webhook: WebhookServer;
  certs: WebhookCerts;
  policies: AgentPolicy[];
  /** Creates a namespace in scope of this fixture's webhook and waits for its default ServiceAccount. */
  namespace(prefix: string): Promise<string>;
  setPolicies(p: AgentPolicy[]): Promise<void>;
  close(): Promise<void>;
}

export function policy(name: string, spec: AgentPolicy['spec']): AgentPolicy {
  return { apiVersion: 'airlock.dev/v1alpha1', kind: 'AgentPolicy', metadata: { name }, spec };
}

export async function startFixture(prefix: string, policies: AgentPolicy[], webhookOpts: Partial<WebhookOptions> = {}): Promise<Fixture> {
  const admin = await clientFor('admin');
  const airlock = await clientFor('airlock');
  await installCrds(admin);
  const id = uniqueName(prefix);
  const systemNs = `${id}-system`;
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: systemNs } });
  const certs = await ensureWebhookCerts(airlock, { namespace: systemNs, secretName: 'webhook-tls', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const { engine, real } = await makeEngine();
  for (const p of policies) {
    const res = await engine.upsert(p);
    if (!res.ok) throw new Error(`test policy ${p.metadata.name} does not compile: ${res.errors.join('; ')}`);
  }
  const approvals = new KubeApprovalService({ client: airlock, labels: { [SCOPE_LABEL]: id }, replicaId: 'test' });
  const audit = new KubeAuditSink({ client: airlock, flushIntervalMs: 200 });
  const webhook = await startWebhook({
    engine,
    approvals,
    audit,
    tls: { cert: certs.cert, key: certs.key },
    exemptUsers: ['airlock'],
    controllerUsers: ['airlock'],
    controllerGroups: ['airlock:controllers'],
    ...webhookOpts,
  });
  const namespaces: string[] = [systemNs];
  let current = policies;
  const syncer = new WebhookConfigSyncer(admin, {
    name: id,
    url: webhook.url,
    operatorNamespace: systemNs,
    namespaceSelector: { matchLabels: { [SCOPE_LABEL]: id } },
    approvalObjectSelector: { matchLabels: { [SCOPE_LABEL]: id } },
    timeoutSeconds: 10,
  });
  const register = async (ps: AgentPolicy[]): Promise<void> => {
    syncer.setCaBundle(certs.caBundle);
    syncer.setPolicies(ps);
    await syncer.flush();
  };
  await register(policies);
  const fx: Fixture = {
    id, systemNs, admin, airlock, engine, realEngine: real, approvals, audit, webhook, certs, policies,
    async namespace(p: string) {
      const name = `${id}-${p}`.slice(0, 63).replace(/-$/, '');
      await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { [SCOPE_LABEL]: id } } });
      namespaces.push(name);
      await eventually(() => admin.get(`/api/v1/namespaces/${name}/serviceaccounts/default`).then(() => true), 30000, `default ServiceAccount in ${name}`);
      return name;
    },
    async setPolicies(ps: AgentPolicy[]) {
      for (const p of current) if (!ps.some((q) => q.metadata.name === p.metadata.name)) engine.remove(p.metadata.name!);
      for (const p of ps) await engine.upsert(p);
      current = ps;
      await register(ps);
    },
    async close() {
      syncer.stop();
      await deleteWebhookConfiguration(admin, id);
      await audit.close().catch(() => undefined);
      await webhook.close();
      // Retried: another test file re-installing the CRDs can briefly answer 429 (storage re-initialising).
      const list = await eventually(() => admin.get<{ items: { metadata: { name: string } }[] }>('/apis/airlock.dev/v1alpha1/approvals', { query: { labelSelector: `${SCOPE_LABEL}=${id}` } }), 20000, 'approvals list');
      for (const a of list.items) await admin.delete(`/apis/airlock.dev/v1alpha1/approvals/${a.metadata.name}`).catch(() => undefined);
      for (const ns of namespaces) await admin.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
    },
  };
  return fx;
}

/** Waits until the API server calls this fixture's webhook (configuration changes propagate asynchronously). */
export async function waitForWebhook(fx: Fixture, ns: string, probe: () => Promise<unknown>, what: string): Promise<void> {
  await eventually(async () => {
    try {
      await probe();
      return false;
    } catch (err) {
      return String((err as Error).message).includes('airlock') || String((err as Error).message).includes('Airlock');
    }
  }, 30000, `webhook ${fx.id} active for ${what} in ${ns}`);
}

/**
 * The real Engine when it loads under jest; otherwise (e.g. while its opa-wasm import fails under jest's ESM
 * loader) a minimal stand-in covering what these tests' policies use: agents.users, match on apiGroups/
 * resources/verbs, the privileged detector, hold defaults, and deny/hold/mutate/audit actions.
 */
async function makeEngine(): Promise<{ engine: PolicyEngine; real: boolean }> {
  const spec = '../../src/policy/engine.js';
  try {
    const mod = (await import(spec)) as { Engine: new (opts?: unknown) => PolicyEngine };
    return { engine: new mod.Engine({}), real: true };
  } catch (err) {
    console.warn(`[webhook tests] real policy engine unavailable (${(err as Error).message}); using the fallback engine`);
    return { engine: new FallbackEngine(), real: false };
  }
}

class FallbackEngine implements PolicyEngine {
  private policies = new Map<string, AgentPolicy>();
  async upsert(p: AgentPolicy) { this.policies.set(p.metadata.name!, p); return { ok: true, errors: [], warnings: [] }; }
  remove(name: string) { this.policies.delete(name); }
  policiesFor(user: { username: string }) { return [...this.policies.values()].filter((p) => p.spec.agents.users?.includes(user.username)).map((p) => p.metadata.name!); }
  decide(req: RequestAttributes): Decision {
    const common = { agent: false, policies: [] as string[], explanations: [], audits: [] as Decision['audits'], recording: { enabled: false, bodies: false } };
    for (const p of this.policies.values()) {
      if (!p.spec.agents.users?.includes(req.user.username)) continue;
      const audits: Decision['audits'] = [];
      const base = { ...common, agent: true, policies: [p.metadata.name!], audits };
      for (const r of p.spec.rules ?? []) {
        const m = r.match ?? {};
        const res = req.subresource ? `${req.resource}/${req.subresource}` : req.resource;
        if (m.resources && !m.resources.includes(res) && !m.resources.includes('*')) continue;
        if (m.apiGroups && !m.apiGroups.includes(req.apiGroup) && !m.apiGroups.includes('*')) continue;
        if (m.verbs && !m.verbs.includes(req.verb) && !m.verbs.includes('*')) continue;
        const explanations: { detector: string; path: string; message: string }[] = [];
        if (r.detectors?.includes('privileged')) {
          const cs = ((req.object?.spec as { containers?: { securityContext?: { privileged?: boolean } }[] } | undefined)?.containers ?? []);
          cs.forEach((c, i) => { if (c.securityContext?.privileged) explanations.push({ detector: 'privileged', path: `spec.containers[${i}].securityContext.privileged`, message: 'container runs privileged' }); });
          if (!explanations.length) continue;
        }
        const matched = { policy: p.metadata.name!, rule: r.name };
        const reason = `AgentPolicy "${matched.policy}" rule "${matched.rule}": ${r.message ?? r.action}`;
        if (r.action === 'audit') { audits.push({ ...matched, message: r.message ?? 'audit', explanations }); continue; }
        if (r.action === 'allow') return { action: 'allow', ...base, matched, explanations };
        if (r.action === 'deny') return { action: 'deny', reason, ...base, matched, explanations };
        if (r.action === 'mutate') return { action: 'mutate', reason, patch: r.mutate?.patch ?? [], ...base, matched, explanations };
        const h = r.hold ?? {};
        return {
          action: 'hold', reason, ...base, matched, explanations,
          hold: { required: h.required ?? 1, ttl: h.ttl ?? '1h', mode: h.mode ?? 'async', inlineTimeout: h.inlineTimeout ?? '25s', uses: h.uses ?? 1, approvers: { users: h.approvers?.users ?? [], groups: h.approvers?.groups ?? [] } },
        };
      }
      return { action: 'allow', ...base };
    }
    return { action: 'allow', ...common };
  }
}
