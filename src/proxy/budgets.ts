// The proxy's limits stages: rate limits right after authentication (before anything is read or sent
// upstream for the request), budgets once the judge has let a request through (src/budgets/charge.ts).
// A rate limit answers 429 TooManyRequests with Retry-After (clients back off and retry by themselves); a
// spent budget that denies answers 429 with details.retryAfterSeconds but no Retry-After header (a client
// would otherwise sleep for up to the whole window).
import { judgeBudgets, type BudgetMode, type BudgetOutcome } from '../budgets/charge.js';
import type { VerbClass } from '../budgets/rate-limiter.js';
import { READ_VERBS } from '../policy/detectors/util.js';
import { UPGRADE_SUBRESOURCES } from './subresources.js';
import type { Decision, RequestAttributes, UserInfo } from '../policy/types.js';
import type { Exchange, ProxyContext } from './context.js';
import type { RequestInfo } from './request-info.js';
import { kubeStatus, type KubeStatus } from './status.js';

/** A refusal, with the headers that go with it. */
export interface LimitAnswer {
  status: KubeStatus;
  headers?: Record<string, string>;
}

/** The rate-limit class of a request: connects (exec, attach, port-forward, proxies), reads, or writes. */
export function verbClassOf(verb: string, subresource: string | undefined): VerbClass {
  if (verb === 'proxy' || UPGRADE_SUBRESOURCES.has(subresource ?? '')) return 'connect';
  return READ_VERBS.has(verb) ? 'read' : 'write';
}

/** Rate limits: a slot for the request (release it when the request ends), or the 429 to answer with. */
export function admitRate(ctx: Pick<ProxyContext, 'rateLimiter' | 'engine' | 'metrics'>, user: UserInfo, info: RequestInfo, longRunning: boolean): { done: () => void } | LimitAnswer {
  const limiter = ctx.rateLimiter;
  const limits = limiter && ctx.engine.rateLimitsFor?.(user);
  if (!limiter || !limits) return { done: () => {} };
  const verbClass = verbClassOf(info.verb, info.subresource);
  const res = limiter.admit({ agent: user.username, verbClass, longRunning }, limits);
  if (res.ok) return res;
  ctx.metrics.rateLimitedTotal.inc({ agent: user.username, limit: res.limit });
  const status = kubeStatus(429, `airlock: too many requests: ${res.message}; retry after ${res.retryAfterSeconds}s`, undefined, { retryAfterSeconds: res.retryAfterSeconds });
  return { status, headers: { 'retry-after': String(res.retryAfterSeconds) } };
}

/** One request's budgets being counted: its charges are kept on the exchange (ex.budgetRefunds). */
export interface BudgetCounting {
  ctx: ProxyContext;
  ex: Exchange;
  user: UserInfo;
  variants: RequestAttributes[];
  /** How many of the variants are the per-object deletes of a deletecollection. */
  itemCount: number;
}

/**
 * Before the verdict. A request the judge allows (or mutates) is charged; a spent budget holds or refuses
 * it. A held request (by a rule, or by that spent budget) is charged against its deny budgets before its
 * Approval is looked at, so approved retries racing each other cannot all fit. Charges of a request that
 * is then not sent are given back when it ends.
 */
export async function budgetsBeforeVerdict(c: BudgetCounting, decision: Decision): Promise<{ decision: Decision; warnings: string[] } | LimitAnswer> {
  let judged = decision;
  const warnings: string[] = [];
  if (decision.action === 'allow' || decision.action === 'mutate') {
    const out = await chargeBudgets(c, decision, 'charge');
    if (out.kind === 'refuse') return out;
    if (out.kind === 'hold') judged = out.decision;
    else {
      c.ex.budgetsCharged = true;
      warnings.push(...out.warnings);
    }
  }
  if (judged.action === 'hold') {
    const out = await chargeBudgets(c, judged, 'hold');
    if (out.kind === 'refuse') return out;
  }
  return { decision: judged, warnings };
}

/** After a person let a held request through: its other budgets are counted, never refused (but a 503). */
export async function budgetsAfterApproval(c: BudgetCounting, judged: Decision, approval: string | undefined): Promise<LimitAnswer | undefined> {
  const out = await chargeBudgets(c, judged, 'approved', approval);
  c.ex.budgetsCharged = true;
  return out.kind === 'refuse' ? out : undefined;
}

/** The budget stage (judgeBudgets) with its refusal as a Status, its charges kept to give back; nothing to do without a ledger. */
async function chargeBudgets(
  { ctx, ex, user, variants, itemCount }: BudgetCounting,
  decision: Decision,
  mode: BudgetMode,
  approval?: string,
): Promise<Exclude<BudgetOutcome, { kind: 'refuse' }> | ({ kind: 'refuse' } & LimitAnswer)> {
  if (!ctx.budgets) return { kind: 'charged', warnings: [], release: () => Promise.resolve() };
  const out = await judgeBudgets({ ...ctx.budgets, engine: ctx.engine, metrics: ctx.metrics }, user, decision, variants, itemCount, mode, approval);
  if (out.kind === 'charged') (ex.budgetRefunds ??= []).push(out.release);
  if (out.kind !== 'refuse') return out;
  return { kind: 'refuse', status: kubeStatus(out.code, out.message, undefined, out.retryAfterSeconds !== undefined ? { retryAfterSeconds: out.retryAfterSeconds } : undefined) };
}
