// Shared state of the proxy (ProxyContext) and of one request as it moves through it (Exchange).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ApprovalService } from '../approvals/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { MaskerFactory } from '../masking/types.js';
import type { Decision, PolicyEngine, ResolvedMasking, UserInfo } from '../policy/types.js';
import type { Recorder } from '../recording/types.js';
import type { ProxiedRequest } from '../identity/proxied-token.js';
import type { ServiceAccountChecker } from '../policy/service-account-enrich.js';
import type { AuditSink } from '../webhook/audit.js';
import type { Authenticator } from './auth/types.js';
import type { Deadline } from './deadline.js';
import type { RequestInfo } from './request-info.js';
import type { Upstream } from './upstream.js';
import type { BudgetDeps } from '../budgets/charge.js';
import type { RateLimiter } from '../budgets/rate-limiter.js';
import { NO_TRACE, type RequestTrace, type Tracing } from '../tracing/tracer.js';

export interface ProxyContext {
  upstream: Upstream;
  engine: PolicyEngine;
  approvals?: ApprovalService;
  masker?: MaskerFactory;
  recorder?: Recorder;
  auth: Authenticator;
  maxBodyBytes: number;
  namespaceLabelTtlMs: number;
  namespaceLabels: Map<string, { labels?: Record<string, string>; expires: number }>;
  metrics: Metrics;
  /** Unexpected internal errors are logged here at error level. */
  log: Logger;
  /** Bound on a non-watch request upstream when the client's ?timeout= sets none (ms). */
  upstreamTimeoutMs: number;
  openSockets?: Set<Duplex>;
  /** Records being written; close() waits for them so none is lost on shutdown. */
  pendingRecords: Set<Promise<void>>;
  /** Where audit-only rule hits go (the same Events and summaries as the webhook's). */
  audit?: AuditSink;
  /** Finds what the ServiceAccounts of a workload may do (the engine's bound for them). */
  serviceAccounts?: ServiceAccountChecker;
  /** Signs the airlock.dev/proxied token for one forwarded request: pass it to upstream.identity(user, value). */
  signProxied?: (req: ProxiedRequest) => string;
  /** OpenTelemetry traces of agent requests (absent: none are made). */
  tracing?: Tracing;
  /** Per-agent rate limits (AgentPolicy spec.rateLimits), kept in this replica. */
  rateLimiter?: RateLimiter;
  /** Budget counts shared by the replicas (AgentPolicy spec.budgets), and who hears of spent ones. */
  budgets?: Omit<BudgetDeps, 'engine' | 'metrics'>;
}

/** Per-request state, filled as the request progresses (for the recording). */
export interface Exchange {
  id: string;
  start: bigint;
  startTime: Date;
  method: string;
  rawPath: string;
  user?: UserInfo;
  info?: RequestInfo;
  decision?: Decision;
  approval?: string;
  status?: number;
  reason?: string;
  requestBody?: unknown;
  responseBody?: unknown;
  /** The write's intent is durable in the recording (the outcome record then omits the request body). */
  intentRecorded?: boolean;
  /** When calls upstream for this request must have answered / ended (set once the request is admitted). */
  deadline?: Deadline;
  /** asciicast file of an exec/attach stream. */
  asciicast?: string;
  verbForMetrics: string;
  /** The request's trace: a span per stage (a no-op unless tracing is on). */
  trace: RequestTrace;
  /** Gives back the request's in-flight slot (rate limits) when it ends. */
  releaseSlot?: () => void;
  /** Its budgets were charged (a write judged again after a conflict is not charged twice). */
  budgetsCharged?: boolean;
  /** Give its budget charges back (when it was not sent, or the API server refused it). */
  budgetRefunds?: (() => Promise<void>)[];
  /** It was sent upstream as the agent (the forward stage began writing it). */
  sent?: boolean;
  /** The API server's status for it, once its answer began. */
  upstreamStatus?: number;
}

export function newExchange(req: IncomingMessage): Exchange {
  return { id: randomUUID(), start: process.hrtime.bigint(), startTime: new Date(), method: (req.method ?? 'GET').toUpperCase(), rawPath: req.url ?? '/', verbForMetrics: 'unknown', trace: NO_TRACE };
}

/** Masking used before a decision exists (probe failures, early refusals): everything the masker knows. */
export const STRICTEST_MASKING: ResolvedMasking = { secrets: true, configMaps: true, logs: true, envNamePatterns: [], patterns: [] };

export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

export function elapsed(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
