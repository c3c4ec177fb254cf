// Entry point: config -> wire -> start. One process runs the operator (CRD install, AgentPolicy status,
// approval expiry, webhook certificate and registration behind a leader Lease), the validating admission
// webhook and the agent proxy. SIGTERM drains: stop accepting, finish in-flight requests, release the Lease.
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { parseConfig, ConfigError, USAGE, type Config } from './config.js';
import { logger, setLogLevel } from '../log.js';
import { KubeApiError, KubeClient } from '../k8s/client.js';
import { ApiServerReachability } from '../k8s/reachability.js';
import { Informer, type KObject } from '../k8s/informer.js';
import { installCrds } from '../operator/crds.js';
import { PolicyController } from '../operator/policy-controller.js';
import { LeaderElector } from '../operator/leader.js';
import { ensureWebhookCerts, startCertRotation, type WebhookCerts } from '../operator/certs.js';
import { WebhookConfigSyncer } from '../operator/webhook-config.js';
import { ensureProxiedKey } from '../operator/proxy-marker.js';
import { proxiedSigner } from '../identity/proxied-token.js';
import { Engine } from '../policy/engine.js';
import { SubjectAccessReviewChecker } from '../operator/service-account-checker.js';
import { configMapLoader } from '../policy/configmap.js';
import { KubeApprovalService } from '../approvals/service.js';
import { maskingRedactor } from '../approvals/redact.js';
import { startExpiryController, type ExpiryController } from '../approvals/expiry.js';
import { startWebhook, type WebhookServer } from '../webhook/server.js';
import { KubeAuditSink } from '../webhook/audit.js';
import { startProxy, type ProxyHandle } from '../proxy/server.js';
import { startTracing, type Tracing } from '../tracing/tracer.js';
import { BudgetLedger } from '../budgets/ledger.js';
import { budgetEvents } from '../budgets/events.js';
import { startBudgetSweeper } from '../budgets/sweeper.js';
import { RateLimiter } from '../budgets/rate-limiter.js';
import { unionAuthenticator, OidcAuthenticator, TokenReviewAuthenticator, type TokenAuthenticator } from '../proxy/auth/index.js';
import { createMaskerFactory } from '../masking/index.js';
import { ensureMaskingKey } from '../operator/masking-key.js';
import { FileRecorder } from '../recording/file-recorder.js';
import { clusterReconciler } from '../recording/reconcile.js';
import { startIdleCollector } from './memory.js';
import { budgetLimit, budgetUsed, registry, leaderStatus } from '../metrics/registry.js';

const log = logger('main');

export interface Running {
  stop(): Promise<void>;
  proxyPort?: number;
  webhookPort?: number;
  healthPort: number;
  metricsPort: number;
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => res((server.address() as { port: number }).port));
  });
}

async function retry<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  let delay = 250;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (signal?.aborted) throw err;
      log.warn(`${what} failed; retrying`, { error: String(err), retryInMs: delay });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(5000, delay * 2);
    }
  }
}

export async function start(cfg: Config): Promise<Running> {
  setLogLevel(cfg.logLevel);
  const client = await KubeClient.load(cfg.kubeconfig, cfg.context);
  log.info('starting', { server: client.server.origin, namespace: cfg.namespace, identity: cfg.identity });

  // Health and metrics first, so probes answer (not ready) during start-up.
  const apiServer = new ApiServerReachability(client, {
    onChange: (reachable, error) => (reachable ? log.info('kube-apiserver reachable again') : log.warn('kube-apiserver unreachable; not ready', { error })),
  }).start();
  let ready = false;
  let draining = false;
  const health = http.createServer((req, res) => {
    if (req.url === '/healthz' || req.url === '/livez') return void res.writeHead(200).end('ok');
    if (req.url === '/readyz') {
      // Not ready while kube-apiserver does not answer: every agent request could only time out.
      const why = !ready ? 'starting' : draining ? 'draining' : !apiServer.reachable ? 'kube-apiserver unreachable' : undefined;
      return void res.writeHead(why ? 503 : 200).end(why ? `not ready: ${why}` : 'ok');
    }
    res.writeHead(404).end();
  });
  const metrics = http.createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  const healthPort = await listen(health, cfg.healthPort, cfg.bindAddress);
  const metricsPort = await listen(metrics, cfg.metricsPort, cfg.bindAddress);

  if (cfg.installCrds) {
    const names = await retry('CRD install', () => installCrds(client));
    log.info('CRDs installed', { crds: names });
  }
  await retry('operator namespace', async () => {
    await client.get(`/api/v1/namespaces/${cfg.namespace}`);
  });

  const engine = new Engine({ loadConfigMap: configMapLoader(client) });
  let leading = !cfg.leaderElect;
  const policies = new PolicyController({
    client,
    engine,
    writeStatus: () => leading,
    log: (msg, fields) => log.info(msg, fields),
  });
  await policies.start();
  log.info('policies loaded', { count: policies.informer.list().length });

  // One masking key for every replica and restart (placeholders agree; Helm records map back anywhere).
  const maskingKey = cfg.maskingKey ?? (await retry('masking key', () => ensureMaskingKey(client, cfg.namespace)));
  const approvals = new KubeApprovalService({ client, replicaId: cfg.identity, redact: maskingRedactor(createMaskerFactory({ key: maskingKey })) });
  // What a workload's ServiceAccount may do, for the policies' bound (shared by the webhook and the proxy).
  const serviceAccounts = new SubjectAccessReviewChecker({ client });
  // Signs (proxy) and verifies (webhook) the per-request airlock.dev/proxied token; shared by all replicas.
  const proxiedKey = await retry('proxied-request key', () => ensureProxiedKey(client, cfg.namespace));
  // Budget counts, shared by this process's proxy and webhook and by every other replica (BudgetUsage objects).
  const budgets = {
    ledger: new BudgetLedger({
      client,
      namespace: cfg.namespace,
      onCharged: (agent, charge, used) => {
        const labels = { policy: charge.budget.policy, budget: charge.budget.name, agent };
        budgetUsed.set(labels, used);
        budgetLimit.set(labels, charge.budget.limit);
      },
      onError: (err) => log.warn('budget ledger', { error: String(err) }),
    }),
    onSpent: budgetEvents({ client, instance: cfg.identity, onError: (err) => log.warn('budget event', { error: String(err) }) }),
  };
  const controllerUsers = [...cfg.controllerUsers];

  // Webhook: serving certificate from the Secret (created by whichever replica gets there first).
  let webhook: WebhookServer | undefined;
  let webhookSync: WebhookConfigSyncer | undefined;
  let certs: WebhookCerts | undefined;
  const certOpts = {
    namespace: cfg.namespace,
    secretName: cfg.webhook.certSecretName,
    serviceName: cfg.webhook.url ? undefined : cfg.webhook.serviceName,
    ipAddresses: cfg.webhook.url ? ['127.0.0.1'] : [],
    dnsNames: cfg.webhook.url ? ['localhost'] : [],
  };
  // Namespace labels for rules with namespace selectors (unknown until the first list: judged restrictively).
  let namespaces: Informer<KObject> | undefined;
  if (cfg.webhook.enabled) {
    certs = await retry('webhook certificate', () => ensureWebhookCerts(client, certOpts));
    const nsInformer = (namespaces = new Informer<KObject>(client, '/api/v1/namespaces', {
      onError: (err) => log.warn('namespace watch error; relisting', { error: String(err) }),
    }).start());
    webhook = await startWebhook({
      // A namespace not (yet) in the cache has unknown labels: rules with selectors judge it restrictively,
      // so a namespace created and written to at once cannot slip past a rule meant for its labels.
      namespaceLabels: (ns) => {
        const known = nsInformer.get(ns);
        return known ? ((known.metadata.labels as Record<string, string> | undefined) ?? {}) : undefined;
      },
      engine,
      approvals,
      budgets,
      audit: new KubeAuditSink({ client, onError: (err) => log.warn('audit sink', { error: String(err) }) }),
      tls: { cert: certs.cert, key: certs.key },
      host: cfg.bindAddress,
      port: cfg.webhook.port,
      exemptUsers: controllerUsers,
      exemptGroups: cfg.controllerGroups,
      controllerUsers,
      controllerGroups: cfg.controllerGroups,
      failOpen: cfg.webhook.failurePolicy === 'Ignore',
      proxiedKey,
      serviceAccounts,
      ready: () => policies.informer.hasSynced(),
      log: (level, msg, fields) => log[level](msg, fields),
    });
    webhookSync = new WebhookConfigSyncer(
      client,
      {
        ...(cfg.webhook.url ? { url: cfg.webhook.url } : { service: { namespace: cfg.namespace, name: cfg.webhook.serviceName, port: 443 } }),
        operatorNamespace: cfg.namespace,
        exemptNamespaces: cfg.webhook.exemptNamespaces,
        failurePolicy: cfg.webhook.failurePolicy,
        timeoutSeconds: cfg.webhook.timeoutSeconds,
        exemptUsers: controllerUsers,
        exemptGroups: cfg.controllerGroups,
      },
      { onError: (err) => log.warn('webhook configuration sync failed', { error: String(err) }) },
    );
    log.info('webhook serving', { port: webhook.port });
  }

  // Proxy.
  let proxy: ProxyHandle | undefined;
  let tracing: Tracing | undefined;
  let idleCollector: { stop(): void } | undefined;
  let recorder: FileRecorder | undefined;
  if (cfg.proxy.enabled) {
    recorder = new FileRecorder({
      dir: cfg.recording.dir,
      fsync: cfg.recording.fsync === 'always' ? 'always' : { intervalMs: 50 },
      auditLog: cfg.recording.auditLog,
      maxBodyBytes: cfg.recording.maxBodyBytes,
      owner: cfg.identity,
      reconcile: clusterReconciler((path) => client.get<Record<string, unknown>>(path).catch((err: unknown) => (err instanceof KubeApiError && err.status === 404 ? undefined : Promise.reject(err)))),
      retention: {
        ...(cfg.recording.maxTotalBytes > 0 ? { maxTotalBytes: cfg.recording.maxTotalBytes } : {}),
        ...(cfg.recording.maxAgeDays > 0 ? { maxAgeMs: cfg.recording.maxAgeDays * 86_400_000 } : {}),
      },
    });
    // Writes a killed process forwarded (or was about to) get their outcome from the cluster.
    void recorder
      .recover()
      .then(
        (r) => r.intents && log.warn('recovered write intents without an outcome', r),
        (err: unknown) => log.warn('recording recovery failed', { error: String(err) }),
      );
    const tokens: TokenAuthenticator[] = cfg.proxy.oidc.map(
      (o) =>
        new OidcAuthenticator({
          issuerUrl: o.issuerURL,
          audiences: [o.audience],
          usernameClaim: o.usernameClaim,
          usernamePrefix: o.usernamePrefix,
          groupsClaim: o.groupsClaim,
          groupsPrefix: o.groupsPrefix,
          ca: o.caFile ? readFileSync(o.caFile) : undefined,
        }),
    );
    if (cfg.proxy.tokenReview) tokens.push(new TokenReviewAuthenticator(client, cfg.proxy.tokenAudiences.length ? { audiences: cfg.proxy.tokenAudiences } : {}));
    if (cfg.tracing) {
      tracing = startTracing({ endpoint: cfg.tracing.endpoint, sampleRatio: cfg.tracing.sampleRatio, instance: cfg.identity });
      log.info('tracing agent requests', { endpoint: cfg.tracing.endpoint, sampleRatio: cfg.tracing.sampleRatio });
    }
    proxy = await startProxy({
      listen: { host: cfg.bindAddress, port: cfg.proxy.port },
      tls: {
        cert: readFileSync(cfg.proxy.certFile!),
        key: readFileSync(cfg.proxy.keyFile!),
        clientCA: cfg.proxy.clientCAFile ? readFileSync(cfg.proxy.clientCAFile) : undefined,
      },
      upstream: client,
      engine,
      approvals,
      // What agents see carries unlinkable markers (no guessing oracle); approvers' diffs keep stable ones.
      masker: createMaskerFactory({ key: maskingKey, markers: 'unlinkable' }),
      recorder,
      auth: unionAuthenticator({ clientCerts: Boolean(cfg.proxy.clientCAFile), tokens }),
      maxBodyBytes: cfg.proxy.maxBodyBytes,
      upstreamTimeoutMs: cfg.proxy.upstreamTimeoutSeconds * 1000,
      proxiedSigner: proxiedSigner(proxiedKey),
      serviceAccounts,
      ...(tracing ? { tracing } : {}),
      rateLimiter: new RateLimiter(),
      budgets,
      audit: new KubeAuditSink({ client, onError: (err) => log.warn('audit sink', { error: String(err) }) }),
      onError: (err) => log.error('proxy error', { error: String((err as Error)?.stack ?? err) }),
    });
    log.info('proxy serving', { port: proxy.port });
    const served = proxy;
    idleCollector = startIdleCollector({
      activity: () => served.requestsServed() + (webhook?.reviewsServed() ?? 0),
      onCollect: (before, after) => log.debug('idle: heap collected', { beforeMiB: Math.round(before / 1048576), afterMiB: Math.round(after / 1048576) }),
    });
  }

  // Singleton controllers: approval expiry, certificate rotation, webhook registration, policy status.
  const approvalInformer = new Informer<KObject>(client, '/apis/airlock.dev/v1alpha1/approvals', {
    onError: (err) => log.warn('approval watch error; relisting', { error: String(err) }),
  }).start();
  const lead = async (signal: AbortSignal): Promise<void> => {
    leading = true;
    leaderStatus.set({ lease: cfg.leaseName }, 1);
    log.info('leading');
    // Expiry first, and it catches up at once: whatever fell due while no replica led is expired now.
    const expiry: ExpiryController = startExpiryController(client, approvalInformer, { onError: (err) => log.warn('approval expiry', { error: String(err) }) });
    void expiry.caughtUp.then((n) => log.info('approval expiry caught up', { expired: n }), () => undefined);
    const budgetSweeper = startBudgetSweeper(client, cfg.namespace, { onError: (err) => log.warn('budget sweeper', { error: String(err) }) });
    const rotator =
      webhook && webhookSync
        ? startCertRotation(
            client,
            {
              ...certOpts,
              intervalMs: 600_000,
              onChange: (c) => {
                certs = c;
                webhook?.updateCertificate({ cert: c.cert, key: c.key });
                webhookSync?.setCaBundle(c.caBundle);
              },
              onError: (err) => log.warn('certificate rotation', { error: String(err) }),
            },
            certs,
          )
        : undefined;
    const syncPolicies = (): void => webhookSync?.setPolicies(policies.informer.list());
    if (webhookSync && certs) {
      webhookSync.setCaBundle(certs.caBundle);
      syncPolicies();
      await webhookSync.flush().catch((err: unknown) => log.warn('webhook configuration', { error: String(err) }));
      policies.informer.on('add', syncPolicies).on('update', syncPolicies).on('delete', syncPolicies);
    }
    await policies.resyncStatus();
    await new Promise<void>((r) => (signal.aborted ? r() : signal.addEventListener('abort', () => r(), { once: true })));
    policies.informer.off('add', syncPolicies).off('update', syncPolicies).off('delete', syncPolicies);
    expiry.stop();
    budgetSweeper.stop();
    rotator?.stop();
  };
  let elector: LeaderElector | undefined;
  const standalone = new AbortController();
  let standaloneRun: Promise<void> | undefined;
  if (cfg.leaderElect) {
    elector = new LeaderElector({
      client,
      namespace: cfg.namespace,
      name: cfg.leaseName,
      identity: cfg.identity,
      onStartedLeading: lead,
      onStoppedLeading: () => {
        leading = false;
        leaderStatus.set({ lease: cfg.leaseName }, 0);
        log.info('stopped leading');
      },
      onError: (err) => log.warn('leader election', { error: String(err) }),
    });
    elector.start();
  } else {
    standaloneRun = lead(standalone.signal);
  }

  ready = true;
  log.info('ready', { proxyPort: proxy?.port, webhookPort: webhook?.port, healthPort, metricsPort });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      draining = true;
      log.info('draining');
      await Promise.allSettled([proxy?.close(), webhook?.close()]);
      standalone.abort();
      await standaloneRun;
      await elector?.stop();
      approvalInformer.stop();
      namespaces?.stop();
      policies.stop();
      webhookSync?.stop();
      await recorder?.close();
      await tracing?.shutdown().catch((err: unknown) => log.warn('tracing shutdown', { error: String(err) }));
      apiServer.stop();
      idleCollector?.stop();
      await new Promise<void>((r) => health.close(() => r()));
      await new Promise<void>((r) => metrics.close(() => r()));
      client.agent.destroy();
      log.info('stopped');
    })();
    return stopping;
  };
  return { stop, proxyPort: proxy?.port, webhookPort: webhook?.port, healthPort, metricsPort };
}

export async function main(argv: string[]): Promise<number> {
  let cfg: Config;
  try {
    cfg = parseConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      const isHelp = err.message === USAGE;
      process[isHelp ? 'stdout' : 'stderr'].write(isHelp ? USAGE : `error: ${err.message}\n`);
      return isHelp ? 0 : 2;
    }
    throw err;
  }
  // A bug that leaves a promise rejected must not take the proxy, webhook and operator down with it
  // (one crafted request would then stop every agent, and fail closed for all of them): log it, go on.
  process.on('unhandledRejection', (err: unknown) => log.error('unhandled rejection', { error: String((err as Error)?.stack ?? err) }));
  const running = await start(cfg);
  await new Promise<void>((resolveSignal) => {
    const onSignal = (sig: string): void => {
      log.info('signal received', { signal: sig });
      const force = setTimeout(() => process.exit(1), 25_000);
      force.unref();
      running.stop().then(resolveSignal, resolveSignal);
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      log.error('fatal', { error: String((err as Error)?.stack ?? err) });
      process.exit(1);
    },
  );
}
