// The proxy's limits stages: rate limits right after authentication (before anything is read or sent
// upstream for the request), budgets once the judge has let a request through (src/budgets/charge.ts).
// A rate limit answers 429 TooManyRequests with Retry-After (clients back off and retry by themselves); a
// spent budget that denies answers 429 with details.retryAfterSeconds but no Retry-After header (a client
// would otherwise sleep for up to the whole window).
import { judgeBudgets, type BudgetMode, type BudgetOutcome } from '../budgets/charge.js';
import { verbClassOf, type RateLimiter } from '../budgets/rate-limiter.js';
import { rateLimitedTotal } from '../metrics/registry.js';
import type { Decision, PolicyEngine, RequestAttributes, UserInfo } from '../policy/types.js';
import type { ProxyContext } from './context.js';
import type { RequestInfo } from './request-info.js';
import { kubeStatus, type KubeStatus } from './status.js';

/** A refusal, with the headers that go with it. */
export interface LimitAnswer {
  status: KubeStatus;
  headers?: Record<string, string>;
}

/** Rate limits: a slot for the request (release it when the request ends), or the 429 to answer with. */
export function admitRate(limiter: RateLimiter | undefined, engine: PolicyEngine, user: UserInfo, info: RequestInfo, longRunning: boolean): { done: () => void } | LimitAnswer {
  const limits = limiter && engine.rateLimitsFor?.(user);
  if (!limiter || !limits) return { done: () => {} };
  const verbClass = verbClassOf(info.verb, info.subresource);
  const res = limiter.admit({ agent: user.username, verbClass, longRunning }, limits);
  if (res.ok) return res;
  rateLimitedTotal.inc({ agent: user.username, limit: res.limit });
  const status = kubeStatus(429, `airlock: too many requests: ${res.message}; retry after ${res.retryAfterSeconds}s`, 'TooManyRequests', { retryAfterSeconds: res.retryAfterSeconds });
  return { status, headers: { 'retry-after': String(res.retryAfterSeconds) } };
}

/** The budget stage (judgeBudgets) with its refusal as a Status; nothing to do without a ledger. */
export async function chargeBudgets(
  ctx: Pick<ProxyContext, 'budgets' | 'engine' | 'onBudgetSpent'>,
  user: UserInfo,
  decision: Decision,
  variants: RequestAttributes[],
  itemCount: number,
  mode: BudgetMode,
  approval?: string,
): Promise<Exclude<BudgetOutcome, { kind: 'refuse' }> | ({ kind: 'refuse' } & LimitAnswer)> {
  if (!ctx.budgets) return { kind: 'charged', warnings: [], release: () => Promise.resolve() };
  const out = await judgeBudgets({ ledger: ctx.budgets, engine: ctx.engine, ...(ctx.onBudgetSpent ? { onSpent: ctx.onBudgetSpent } : {}) }, user, decision, variants, itemCount, mode, approval);
  if (out.kind !== 'refuse') return out;
  const reason = out.code === 429 ? 'TooManyRequests' : 'ServiceUnavailable';
  return { kind: 'refuse', status: kubeStatus(out.code, out.message, reason, out.retryAfterSeconds !== undefined ? { retryAfterSeconds: out.retryAfterSeconds } : undefined) };
}
