// Prometheus metrics (prom-client). Nothing is registered at import: the composition root makes one Metrics
// (one Registry) and passes it to every component, and src/main serves it on /metrics. A component built
// without one (in tests) makes its own, so its counters never leak into another's.
// Durations are in seconds (histograms), following Prometheus naming conventions.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Every metric Airlock exports, registered on one Registry. */
export function createMetrics(opts: { processMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'airlock_process_' });
  const registers = [registry];
  return {
    registry,
    decisionsTotal: new Counter({
      name: 'airlock_decisions_total',
      help: 'Policy decisions by action, policy, rule and source (proxy/webhook).',
      labelNames: ['action', 'policy', 'rule', 'via'] as const,
      registers,
    }),
    decisionDuration: new Histogram({
      name: 'airlock_decision_duration_seconds',
      help: 'Time the policy engine took to decide.',
      labelNames: ['via'] as const,
      buckets: [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01],
      registers,
    }),
    proxyRequestDuration: new Histogram({
      name: 'airlock_proxy_request_duration_seconds',
      help: 'Latency of requests through the agent proxy (to response headers), by verb and HTTP code.',
      labelNames: ['verb', 'code'] as const,
      buckets: latencyBuckets,
      registers,
    }),
    upstreamRequestDuration: new Histogram({
      name: 'airlock_upstream_request_duration_seconds',
      help: 'Latency of the kube-apiserver as seen by the proxy (to response headers).',
      labelNames: ['verb'] as const,
      buckets: latencyBuckets,
      registers,
    }),
    webhookRequestDuration: new Histogram({
      name: 'airlock_webhook_request_duration_seconds',
      help: 'Latency of admission reviews, by result (allowed/denied/error).',
      labelNames: ['result'] as const,
      buckets: latencyBuckets,
      registers,
    }),
    webhookConnectionsTotal: new Counter({
      name: 'airlock_webhook_connections_total',
      help: 'TLS connections kube-apiserver opened to the webhook (each a handshake; many per review means connections are not reused).',
      registers,
    }),
    approvalsTotal: new Counter({
      name: 'airlock_approvals_total',
      help: 'Approval lifecycle events (created, approved, denied, expired, consumed).',
      labelNames: ['event'] as const,
      registers,
    }),
    approvalsPending: new Gauge({
      name: 'airlock_approvals_pending',
      help: 'Approvals waiting for sign-off.',
      registers,
    }),
    maskedValuesTotal: new Counter({
      name: 'airlock_masked_values_total',
      help: 'Values masked in responses to agents, by kind (secret, env, configmap, log, pattern).',
      labelNames: ['kind'] as const,
      registers,
    }),
    recordingBytesTotal: new Counter({
      name: 'airlock_recording_bytes_total',
      help: 'Bytes written to session recordings.',
      registers,
    }),
    recordingErrorsTotal: new Counter({
      name: 'airlock_recording_errors_total',
      help: 'Failed writes to session recordings.',
      registers,
    }),
    recordingAvailable: new Gauge({
      name: 'airlock_recording_available',
      help: '1 while session records can be made durable; 0 while writes are refused because they cannot.',
      registers,
    }),
    unrecordedRefusalsTotal: new Counter({
      name: 'airlock_refused_requests_total',
      help: 'Agent requests refused with 503 because their record could not be made durable (by kind: write, read).',
      labelNames: ['kind'] as const,
      registers,
    }),
    certificateExpiry: new Gauge({
      name: 'airlock_certificate_expiry_timestamp_seconds',
      help: 'Expiry time (unix seconds) of certificates Airlock serves with, by use (webhook, proxy).',
      labelNames: ['use'] as const,
      registers,
    }),
    policiesLoaded: new Gauge({
      name: 'airlock_policies',
      help: 'AgentPolicies loaded, by readiness.',
      labelNames: ['ready'] as const,
      registers,
    }),
    leaderStatus: new Gauge({
      name: 'airlock_leader',
      help: '1 when this replica holds the controller lease.',
      labelNames: ['lease'] as const,
      registers,
    }),
    budgetUsed: new Gauge({
      name: 'airlock_budget_used',
      help: 'Units of a budget an agent has used in its window, as of its last charge (by policy, budget, agent).',
      labelNames: ['policy', 'budget', 'agent'] as const,
      registers,
    }),
    budgetLimit: new Gauge({
      name: 'airlock_budget_limit',
      help: 'The limit of a budget, beside airlock_budget_used (by policy, budget, agent).',
      labelNames: ['policy', 'budget', 'agent'] as const,
      registers,
    }),
    budgetExhaustedTotal: new Counter({
      name: 'airlock_budget_exhausted_total',
      help: 'Requests that met a spent budget, by policy, budget, agent and what was done (hold, deny, audit).',
      labelNames: ['policy', 'budget', 'agent', 'action'] as const,
      registers,
    }),
    rateLimitedTotal: new Counter({
      name: 'airlock_rate_limited_total',
      help: 'Agent requests answered 429 by a rate limit, by agent and limit (read, write, connect, in-flight).',
      labelNames: ['agent', 'limit'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
