// The agent gateway: an authenticating kube-apiserver proxy. Every agent request is authenticated,
// normalised, judged by the policy engine (on the resulting object for writes) and then forwarded with
// the proxy's credentials impersonating the agent, so the cluster's RBAC still applies. The stages are in
// pipeline.ts; every answer leaves through the response gate (gate.ts), masked or refused.
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import type { KubeClient } from '../k8s/client.js';
import type { PolicyEngine } from '../policy/types.js';
import type { BudgetDeps } from '../budgets/charge.js';
import type { RateLimiter } from '../budgets/rate-limiter.js';
import type { ApprovalService } from '../approvals/types.js';
import type { MaskerFactory } from '../masking/types.js';
import type { Recorder } from '../recording/types.js';
import type { ProxiedRequest } from '../identity/proxied-token.js';
import { silentLogger, type Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import type { ServiceAccountChecker } from '../policy/service-account-enrich.js';
import type { AuditSink } from '../webhook/audit.js';
import type { Authenticator } from './auth/types.js';
import { DEFAULT_MAX_BODY_BYTES } from './body.js';
import { Upstream } from './upstream.js';
import { HttpChannel, SocketChannel } from './channel.js';
import type { ProxyContext } from './context.js';
import { serveAgentRequest } from './pipeline.js';
import type { Tracing } from '../tracing/tracer.js';
import { kubeStatus } from './status.js';

export interface ProxyOptions {
  listen: { host: string; port: number };
  tls: { cert: string | Buffer; key: string | Buffer; clientCA?: string | Buffer };
  /** The proxy's own connection to kube-apiserver (its credentials must allow impersonation). */
  upstream: KubeClient;
  engine: PolicyEngine;
  approvals?: ApprovalService;
  masker?: MaskerFactory;
  recorder?: Recorder;
  auth: Authenticator;
  /** Largest request body accepted (default 3 MiB); larger bodies get 413 while streaming. */
  maxBodyBytes?: number;
  /** Bound on a non-watch request upstream when the client's ?timeout= sets none (default 60 s). */
  upstreamTimeoutMs?: number;
  /** Namespace-label cache TTL for namespaceSelector rules (default 30 s; 0 disables lookups). */
  namespaceLabelTtlMs?: number;
  /** User extras added to every impersonated request (see Upstream). */
  impersonationExtra?: Record<string, string[]>;
  /** Audit-only rule hits: Kubernetes Events and the audit summary, as the webhook records them. */
  audit?: AuditSink;
  /** Checks workloads' ServiceAccounts against the policy's bound (SubjectAccessReview); without it they count as unknown. */
  serviceAccounts?: ServiceAccountChecker;
  /** Signs the per-request airlock.dev/proxied token (src/identity/proxied-token.ts); kept as ctx.signProxied. */
  proxiedSigner?: (req: ProxiedRequest) => string;
  /** OpenTelemetry traces of agent requests (src/tracing/tracer.ts). */
  tracing?: Tracing;
  /** Per-agent rate limits (src/budgets/rate-limiter.ts). */
  rateLimiter?: RateLimiter;
  /** Budget counts shared by the replicas (src/budgets/ledger.ts), and who hears of spent ones. */
  budgets?: Omit<BudgetDeps, 'engine' | 'metrics'>;
  /** Where latencies, refusals, rate limits and the serving certificate's expiry are published (default: a registry of the proxy's own). */
  metrics?: Metrics;
  /** Where unexpected internal errors are logged (default: nowhere). */
  log?: Logger;
}

export interface ProxyHandle {
  port: number;
  /** Requests received so far (plain and upgrades). */
  requestsServed(): number;
  close(): Promise<void>;
}

export async function startProxy(opts: ProxyOptions): Promise<ProxyHandle> {
  const upstream = new Upstream(opts.upstream, undefined, opts.impersonationExtra);
  const ctx: ProxyContext = {
    upstream,
    engine: opts.engine,
    approvals: opts.approvals,
    masker: opts.masker,
    recorder: opts.recorder,
    auth: opts.auth,
    maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    upstreamTimeoutMs: opts.upstreamTimeoutMs ?? 60_000,
    namespaceLabelTtlMs: opts.namespaceLabelTtlMs ?? 30_000,
    namespaceLabels: new Map(),
    pendingRecords: new Set(),
    metrics: opts.metrics ?? createMetrics(),
    log: opts.log ?? silentLogger,
    ...(opts.proxiedSigner ? { signProxied: opts.proxiedSigner } : {}),
    ...(opts.serviceAccounts ? { serviceAccounts: opts.serviceAccounts } : {}),
    ...(opts.audit ? { audit: opts.audit } : {}),
    ...(opts.tracing ? { tracing: opts.tracing } : {}),
    ...(opts.rateLimiter ? { rateLimiter: opts.rateLimiter } : {}),
    ...(opts.budgets ? { budgets: opts.budgets } : {}),
  };
  const server = https.createServer({
    cert: opts.tls.cert,
    key: opts.tls.key,
    minVersion: 'TLSv1.2',
    ...(opts.tls.clientCA ? { ca: opts.tls.clientCA, requestCert: true, rejectUnauthorized: false } : {}),
  });
  try {
    ctx.metrics.certificateExpiry.set({ use: 'proxy' }, Math.floor(new Date(new X509Certificate(opts.tls.cert).validTo).getTime() / 1000));
  } catch { /* not a parseable certificate: TLS setup reports it */ }
  // Watches, logs -f and exec streams are long-lived: no socket inactivity timeout. Receiving a request
  // (headers and the bounded body) must finish in time, so slow senders cannot hold connections open;
  // this does not limit how long a response streams.
  server.timeout = 0;
  server.requestTimeout = 120_000;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;

  // Every request, plain or upgrade, takes the same stages (pipeline.ts); only the agent's channel differs.
  let served = 0;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    served++;
    void serveAgentRequest(ctx, req, new HttpChannel(res));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    served++;
    socket.on('error', () => socket.destroy());
    void serveAgentRequest(ctx, req, new SocketChannel(socket), { socket, head });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (socket.writable && err.code !== 'ECONNRESET') {
      const st = kubeStatus(400, `bad request: ${err.message}`);
      new SocketChannel(socket).send(400, { 'content-type': 'application/json' }, JSON.stringify(st));
    } else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listen.port, opts.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    requestsServed: () => served,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of ctx.openSockets ?? []) s.destroy();
        upstream.close();
      });
      // Let the records of requests that just ended (their streams are torn down asynchronously) reach
      // the recorder before the caller closes it.
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 10));
        if (ctx.pendingRecords.size === 0) break;
        await Promise.allSettled([...ctx.pendingRecords]);
      }
    },
  };
}
