// The services the components share, built once per process after the cluster answers: the policy engine
// fed by the AgentPolicy controller, the installation's keys (masking, proxied-request token), Approvals,
// budgets, the webhook's serving certificate. Components receive them through Deps, never by import.
import type { Config } from './config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { KubeClient } from '../k8s/client.js';
import { ApiServerReachability } from '../k8s/reachability.js';
import { Informer, type KObject } from '../k8s/informer.js';
import { installCrds } from '../operator/crds.js';
import { PolicyController } from '../operator/policy-controller.js';
import { ensureWebhookCerts, type WebhookCerts, type WebhookCertOptions } from '../operator/certs.js';
import { ensureProxiedKey } from '../operator/proxy-marker.js';
import { ensureMaskingKey } from '../operator/masking-key.js';
import { SubjectAccessReviewChecker } from '../operator/service-account-checker.js';
import { Engine } from '../policy/engine.js';
import { configMapLoader } from '../policy/configmap.js';
import { KubeApprovalService } from '../approvals/service.js';
import { maskingRedactor } from '../approvals/redact.js';
import { createMaskerFactory } from '../masking/index.js';
import { BudgetLedger } from '../budgets/ledger.js';
import { budgetEvents } from '../budgets/events.js';
import { errorField } from '../log.js';
import { retry } from './component.js';

/** What every component gets: the configuration, the cluster, one logger and one metrics registry. */
export interface BaseDeps {
  cfg: Config;
  client: KubeClient;
  log: Logger;
  metrics: Metrics;
  apiServer: ApiServerReachability;
  /** Set by the composition root: readiness for /readyz, and whether this replica leads. */
  state: { ready: boolean; draining: boolean; leading: boolean };
}

/** The webhook's serving certificate: read by the webhook, renewed by the leader's rotation. */
export class WebhookCertificate {
  private readonly listeners = new Set<(c: WebhookCerts) => void>();
  constructor(
    public current: WebhookCerts,
    readonly options: WebhookCertOptions,
  ) {}
  set(c: WebhookCerts): void {
    this.current = c;
    for (const l of this.listeners) l(c);
  }
  onChange(l: (c: WebhookCerts) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

export interface Services {
  engine: Engine;
  policies: PolicyController;
  maskingKey: Buffer;
  approvals: KubeApprovalService;
  /** Every Approval, cached on every replica so a new leader's expiry catches up at once. */
  approvalCache: Informer<KObject>;
  serviceAccounts: SubjectAccessReviewChecker;
  proxiedKey: Buffer;
  budgets: { ledger: BudgetLedger; onSpent: ReturnType<typeof budgetEvents> };
  webhookCertificate?: WebhookCertificate;
}

export type Deps = BaseDeps & Services;

export function webhookCertOptions(cfg: Config): WebhookCertOptions {
  return {
    namespace: cfg.namespace,
    secretName: cfg.webhook.certSecretName,
    serviceName: cfg.webhook.url ? undefined : cfg.webhook.serviceName,
    ipAddresses: cfg.webhook.url ? ['127.0.0.1'] : [],
    dnsNames: cfg.webhook.url ? ['localhost'] : [],
  };
}

/** Builds the shared services (retrying what needs the cluster until it answers); close() releases them. */
export async function buildServices(base: BaseDeps, signal: AbortSignal): Promise<Services & { close(): void }> {
  const { cfg, client, metrics } = base;
  const log = base.log.child('main');
  if (cfg.installCrds) {
    const names = await retry('CRD install', () => installCrds(client), log, signal);
    log.info('CRDs installed', { crds: names });
  }
  await retry('operator namespace', () => client.get(`/api/v1/namespaces/${cfg.namespace}`), log, signal);

  const engine = new Engine({ loadConfigMap: configMapLoader(client), metrics });
  const policies = new PolicyController({ client, engine, writeStatus: () => base.state.leading, log: log.child('policy-controller'), metrics });
  await policies.start();
  log.info('policies loaded', { count: policies.informer.list().length });

  // One masking key for every replica and restart (placeholders agree; Helm records map back anywhere).
  const maskingKey = cfg.maskingKey ?? (await retry('masking key', () => ensureMaskingKey(client, cfg.namespace), log, signal));
  const approvals = new KubeApprovalService({ client, replicaId: cfg.identity, redact: maskingRedactor(createMaskerFactory({ key: maskingKey, metrics })), metrics });
  const approvalCache = new Informer<KObject>(client, '/apis/airlock.dev/v1alpha1/approvals', {
    onError: (err) => log.warn('approval watch error; relisting', { error: errorField(err) }),
  }).start();
  // What a workload's ServiceAccount may do, for the policies' bound (shared by the webhook and the proxy).
  const serviceAccounts = new SubjectAccessReviewChecker({ client });
  // Signs (proxy) and verifies (webhook) the per-request airlock.dev/proxied token; shared by all replicas.
  const proxiedKey = await retry('proxied-request key', () => ensureProxiedKey(client, cfg.namespace), log, signal);
  // Budget counts, shared by this process's proxy and webhook and by every other replica (BudgetUsage objects).
  const budgets = {
    ledger: new BudgetLedger({
      client,
      namespace: cfg.namespace,
      onCharged: (agent, charge, used) => {
        const labels = { policy: charge.budget.policy, budget: charge.budget.name, agent };
        metrics.budgetUsed.set(labels, used);
        metrics.budgetLimit.set(labels, charge.budget.limit);
      },
      log: log.child('budgets'),
    }),
    onSpent: budgetEvents({ client, instance: cfg.identity, log: log.child('budgets') }),
  };
  let webhookCertificate: WebhookCertificate | undefined;
  if (cfg.webhook.enabled) {
    // From the Secret (created by whichever replica gets there first).
    const options = { ...webhookCertOptions(cfg), metrics };
    webhookCertificate = new WebhookCertificate(await retry('webhook certificate', () => ensureWebhookCerts(client, options), log, signal), options);
  }
  return {
    engine,
    policies,
    maskingKey,
    approvals,
    approvalCache,
    serviceAccounts,
    proxiedKey,
    budgets,
    ...(webhookCertificate ? { webhookCertificate } : {}),
    close: () => {
      approvalCache.stop();
      policies.stop();
    },
  };
}
