// The components of one Airlock process, in start order. Probes first (they answer "not ready" while the
// rest starts); then, on every replica, the webhook and the proxy; then, on the leader only, the singleton
// controllers: approval expiry (first, so a new leader catches up at once), the budget sweeper, the
// webhook's certificate rotation and registration, and AgentPolicy status.
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import type { Component } from './component.js';
import type { BaseDeps, Deps } from './services.js';
import { startIdleCollector } from './memory.js';
import { errorField } from '../log.js';
import { KubeApiError } from '../k8s/client.js';
import { Informer, type KObject } from '../k8s/informer.js';
import { startApprovalController } from '../operator/approval-controller.js';
import { startCertRotation } from '../operator/certs.js';
import { WebhookConfigSyncer } from '../operator/webhook-config.js';
import { startBudgetSweeper } from '../budgets/sweeper.js';
import { RateLimiter } from '../budgets/rate-limiter.js';
import { startWebhook, type WebhookServer } from '../webhook/server.js';
import { KubeAuditSink } from '../webhook/audit.js';
import { startProxy } from '../proxy/server.js';
import { unionAuthenticator, OidcAuthenticator, TokenReviewAuthenticator, type TokenAuthenticator } from '../proxy/auth/index.js';
import { proxiedSigner } from '../identity/proxied-token.js';
import { createMaskerFactory } from '../masking/index.js';
import { FileRecorder } from '../recording/file-recorder.js';
import { clusterReconciler } from '../recording/reconcile.js';
import { startTracing } from '../tracing/tracer.js';

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => res((server.address() as { port: number }).port));
  });
}

const closeServer = (server: http.Server) => (): Promise<void> => new Promise((r) => server.close(() => r()));

/** Ports the components listen on, known once started (0 in the config: any free port). */
export interface Ports {
  health?: number;
  metrics?: number;
  webhook?: number;
  proxy?: number;
}

export function probeComponents(ports: Ports): Component<BaseDeps>[] {
  return [
    {
      name: 'health',
      leaderOnly: false,
      async start({ cfg, state, apiServer }) {
        const server = http.createServer((req, res) => {
          if (req.url === '/healthz' || req.url === '/livez') return void res.writeHead(200).end('ok');
          if (req.url === '/readyz') {
            // Not ready while kube-apiserver does not answer: every agent request could only time out.
            const why = !state.ready ? 'starting' : state.draining ? 'draining' : !apiServer.reachable ? 'kube-apiserver unreachable' : undefined;
            return void res.writeHead(why ? 503 : 200).end(why ? `not ready: ${why}` : 'ok');
          }
          res.writeHead(404).end();
        });
        ports.health = await listen(server, cfg.healthPort, cfg.bindAddress);
        return closeServer(server);
      },
    },
    {
      name: 'metrics',
      leaderOnly: false,
      async start({ cfg, metrics }) {
        const server = http.createServer((req, res) => {
          if (req.url !== '/metrics') return void res.writeHead(404).end();
          metrics.registry.metrics().then(
            (body) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(body),
            (err: unknown) => res.writeHead(500).end(String(err)),
          );
        });
        ports.metrics = await listen(server, cfg.metricsPort, cfg.bindAddress);
        return closeServer(server);
      },
    },
  ];
}

/** Shared between the webhook (serves) and the idle collector (counts its reviews). */
interface Served {
  webhook?: WebhookServer;
  requests: () => number;
}

export function serviceComponents(ports: Ports): Component<Deps>[] {
  const served: Served = { requests: () => served.webhook?.reviewsServed() ?? 0 };
  return [
    {
      name: 'webhook',
      leaderOnly: false,
      async start(deps) {
        const { cfg, client, metrics, webhookCertificate } = deps;
        if (!cfg.webhook.enabled || !webhookCertificate) return;
        const log = deps.log.child('webhook');
        // Namespace labels for rules with namespace selectors (unknown until the first list: judged restrictively).
        const namespaces = new Informer<KObject>(client, '/api/v1/namespaces', {
          onError: (err) => log.warn('namespace watch error; relisting', { error: errorField(err) }),
        }).start();
        const controllerUsers = [...cfg.controllerUsers];
        const certs = webhookCertificate.current;
        const webhook = await startWebhook({
          // A namespace not (yet) in the cache has unknown labels: rules with selectors judge it restrictively,
          // so a namespace created and written to at once cannot slip past a rule meant for its labels.
          namespaceLabels: (ns) => {
            const known = namespaces.get(ns);
            return known ? ((known.metadata.labels as Record<string, string> | undefined) ?? {}) : undefined;
          },
          engine: deps.engine,
          approvals: deps.approvals,
          budgets: deps.budgets,
          audit: new KubeAuditSink({ client, log: log.child('audit') }),
          tls: { cert: certs.cert, key: certs.key },
          host: cfg.bindAddress,
          port: cfg.webhook.port,
          exemptUsers: controllerUsers,
          exemptGroups: cfg.controllerGroups,
          controllerUsers,
          controllerGroups: cfg.controllerGroups,
          failOpen: cfg.webhook.failurePolicy === 'Ignore',
          proxiedKey: deps.proxiedKey,
          serviceAccounts: deps.serviceAccounts,
          ready: () => deps.policies.informer.hasSynced(),
          log,
          metrics,
        });
        const unsubscribe = webhookCertificate.onChange((c) => webhook.updateCertificate({ cert: c.cert, key: c.key }));
        served.webhook = webhook;
        ports.webhook = webhook.port;
        log.info('webhook serving', { port: webhook.port });
        return async () => {
          unsubscribe();
          await webhook.close();
          namespaces.stop();
        };
      },
    },
    {
      name: 'proxy',
      leaderOnly: false,
      async start(deps) {
        const { cfg, client, metrics } = deps;
        if (!cfg.proxy.enabled) return;
        const log = deps.log.child('proxy');
        const recorder = new FileRecorder({
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
          metrics,
        });
        // Writes a killed process forwarded (or was about to) get their outcome from the cluster.
        void recorder.recover().then(
          (r) => r.intents && log.warn('recovered write intents without an outcome', r),
          (err: unknown) => log.warn('recording recovery failed', { error: errorField(err) }),
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
        const tracing = cfg.tracing ? startTracing({ endpoint: cfg.tracing.endpoint, sampleRatio: cfg.tracing.sampleRatio, instance: cfg.identity }) : undefined;
        if (cfg.tracing) log.info('tracing agent requests', { endpoint: cfg.tracing.endpoint, sampleRatio: cfg.tracing.sampleRatio });
        const proxy = await startProxy({
          listen: { host: cfg.bindAddress, port: cfg.proxy.port },
          tls: {
            cert: readFileSync(cfg.proxy.certFile!),
            key: readFileSync(cfg.proxy.keyFile!),
            clientCA: cfg.proxy.clientCAFile ? readFileSync(cfg.proxy.clientCAFile) : undefined,
          },
          upstream: client,
          engine: deps.engine,
          approvals: deps.approvals,
          // What agents see carries unlinkable markers (no guessing oracle); approvers' diffs keep stable ones.
          masker: createMaskerFactory({ key: deps.maskingKey, markers: 'unlinkable', metrics }),
          recorder,
          auth: unionAuthenticator({ clientCerts: Boolean(cfg.proxy.clientCAFile), tokens }),
          maxBodyBytes: cfg.proxy.maxBodyBytes,
          upstreamTimeoutMs: cfg.proxy.upstreamTimeoutSeconds * 1000,
          proxiedSigner: proxiedSigner(deps.proxiedKey),
          serviceAccounts: deps.serviceAccounts,
          ...(tracing ? { tracing } : {}),
          rateLimiter: new RateLimiter(),
          budgets: deps.budgets,
          audit: new KubeAuditSink({ client, log: log.child('audit') }),
          log,
          metrics,
        });
        ports.proxy = proxy.port;
        log.info('proxy serving', { port: proxy.port });
        const webhookRequests = served.requests;
        served.requests = () => proxy.requestsServed() + webhookRequests();
        return async () => {
          await proxy.close();
          await recorder.close();
          await tracing?.shutdown().catch((err: unknown) => log.warn('tracing shutdown', { error: errorField(err) }));
        };
      },
    },
    {
      name: 'idle-collector',
      leaderOnly: false,
      async start({ log }) {
        const collector = startIdleCollector({
          activity: () => served.requests(),
          onCollect: (before, after) => log.child('memory').debug('idle: heap collected', { beforeMiB: Math.round(before / 1048576), afterMiB: Math.round(after / 1048576) }),
        });
        return () => collector.stop();
      },
    },
    {
      name: 'approval-controller',
      leaderOnly: true,
      async start({ client, approvalCache, log, metrics }) {
        const controller = startApprovalController(client, approvalCache, { log: log.child('approval-controller'), metrics });
        void controller.caughtUp.then((n) => log.child('approval-controller').info('approval expiry caught up', { expired: n }), () => undefined);
        return () => controller.stop();
      },
    },
    {
      name: 'budget-sweeper',
      leaderOnly: true,
      async start({ client, cfg, log }) {
        const sweeper = startBudgetSweeper(client, cfg.namespace, { log: log.child('budget-sweeper') });
        return () => sweeper.stop();
      },
    },
    {
      name: 'webhook-registration',
      leaderOnly: true,
      async start({ cfg, client, log, metrics, policies, webhookCertificate }) {
        if (!cfg.webhook.enabled || !webhookCertificate) return;
        const controllerUsers = [...cfg.controllerUsers];
        const sync = new WebhookConfigSyncer(
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
          { log: log.child('webhook-config') },
        );
        const rotator = startCertRotation(
          client,
          {
            ...webhookCertificate.options,
            intervalMs: 600_000,
            onChange: (c) => {
              webhookCertificate.set(c);
              sync.setCaBundle(c.caBundle);
            },
            log: log.child('certificates'),
            metrics,
          },
          webhookCertificate.current,
        );
        const syncPolicies = (): void => sync.setPolicies(policies.informer.list());
        sync.setCaBundle(webhookCertificate.current.caBundle);
        syncPolicies();
        await sync.flush().catch((err: unknown) => log.child('webhook-config').warn('webhook configuration', { error: errorField(err) }));
        policies.informer.on('add', syncPolicies).on('update', syncPolicies).on('delete', syncPolicies);
        return () => {
          policies.informer.off('add', syncPolicies).off('update', syncPolicies).off('delete', syncPolicies);
          rotator.stop();
          sync.stop();
        };
      },
    },
    {
      name: 'policy-status',
      leaderOnly: true,
      async start({ policies }) {
        await policies.resyncStatus();
      },
    },
  ];
}
