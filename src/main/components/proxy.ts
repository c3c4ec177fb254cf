// The agent proxy on every replica, with its recorder (and the recovery of a killed process's writes),
// authenticators and tracing.
import { readFileSync } from 'node:fs';
import type { Component } from '../component.js';
import type { Deps } from '../services.js';
import type { Ports, Served } from './shared.js';
import { errorField } from '../../log.js';
import { KubeApiError } from '../../k8s/client.js';
import { RateLimiter } from '../../budgets/rate-limiter.js';
import { KubeAuditSink } from '../../webhook/audit.js';
import { startProxy } from '../../proxy/server.js';
import { unionAuthenticator, OidcAuthenticator, TokenReviewAuthenticator, type TokenAuthenticator } from '../../proxy/auth/index.js';
import { proxiedSigner } from '../../identity/proxied-token.js';
import { createMaskerFactory } from '../../masking/index.js';
import { FileRecorder } from '../../recording/file-recorder.js';
import { clusterReconciler } from '../../recording/reconcile.js';
import { startTracing } from '../../tracing/tracer.js';

export function proxyComponent(ports: Ports, served: Served): Component<Deps> {
  return {
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
      const othersServed = served.requests;
      served.requests = () => proxy.requestsServed() + othersServed();
      return async () => {
        await proxy.close();
        await recorder.close();
        await tracing?.shutdown().catch((err: unknown) => log.warn('tracing shutdown', { error: errorField(err) }));
      };
    },
  };
}
