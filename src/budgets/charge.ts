// Budgets for one judged request, shared by the proxy and the webhook: which budgets it counts against and
// what it costs each, and what a spent budget does (hold for approval, refuse with when to retry, or only
// audit). Each front end wraps the outcome in its own envelope (a Status, an AdmissionResponse).
import type { HoldDecision } from '../approvals/types.js';
import type { Metrics } from '../metrics/registry.js';
import { primaryObject, type CompiledBudget } from '../policy/compile.js';
import type { Decision, PolicyEngine, RequestAttributes, UserInfo } from '../policy/types.js';
import { BudgetUnavailableError, type BudgetCharge, type BudgetLedger, type Reservation, type Spent } from './ledger.js';

/**
 * The budgets a request counts against and what it costs each: one unit, or for a deletecollection one
 * per object it deletes (its per-item variants, the last `itemCount` of `variants`).
 */
export function chargesFor(engine: PolicyEngine, variants: RequestAttributes[], itemCount: number): Omit<BudgetCharge, 'enforce'>[] {
  if (!engine.budgetsFor) return [];
  const byKey = new Map<string, Omit<BudgetCharge, 'enforce'>>();
  const add = (b: CompiledBudget, a: RequestAttributes, cost: number): void => {
    const scope = scopeOf(b, a);
    const key = `${b.policy}\u0000${b.name}\u0000${scope}`;
    const prev = byKey.get(key);
    if (prev) prev.cost += cost;
    else byKey.set(key, { budget: b, scope, cost });
  };
  const split = variants.length - itemCount;
  const chargedPerItem = new Set<CompiledBudget>();
  for (const item of variants.slice(split)) {
    for (const b of engine.budgetsFor(item)) {
      chargedPerItem.add(b);
      add(b, item, 1);
    }
  }
  const once = new Set<CompiledBudget>();
  for (const a of variants.slice(0, split)) {
    for (const b of engine.budgetsFor(a)) {
      if (chargedPerItem.has(b) || once.has(b)) continue;
      once.add(b);
      add(b, a, 1);
    }
  }
  return [...byKey.values()];
}

/** Where a scoped budget counts: the target's namespace, or the value of a label of the target object. */
export function scopeOf(b: CompiledBudget, a: RequestAttributes): string {
  if (b.per.namespace) return `namespace=${a.namespace ?? ''}`;
  if (b.per.label !== undefined) {
    const labels = (primaryObject(a)?.metadata as { labels?: Record<string, unknown> } | undefined)?.labels;
    const v = labels?.[b.per.label];
    return `label:${b.per.label}=${typeof v === 'string' ? v : ''}`;
  }
  return '';
}

export type BudgetOutcome =
  /** Charged (or nothing to charge); warnings for spent audit budgets. release: give the charges back. */
  | { kind: 'charged'; warnings: string[]; release: () => Promise<void> }
  /** A spent budget holds the request: judge this decision instead. */
  | { kind: 'hold'; decision: HoldDecision }
  /** 429: a spent budget that denies (retryAfterSeconds set); 503: the count cannot be kept. */
  | { kind: 'refuse'; code: 429 | 503; message: string; retryAfterSeconds?: number };

export type BudgetMode = 'charge' | 'hold' | 'approved';

const NOTHING = (): Promise<void> => Promise.resolve();

/** What judging budgets needs: the shared count, the engine, where spent budgets are counted, and who hears of them. */
export interface BudgetDeps {
  ledger: BudgetLedger;
  engine: PolicyEngine;
  metrics: Pick<Metrics, 'budgetExhaustedTotal'>;
  onSpent?: (spent: Spent, user: UserInfo, action: string) => void;
}

/**
 * What a request's budgets say.
 * - `charge`: the judge let it through. It is counted, and a spent budget holds or refuses it.
 * - `hold`: it is held (by a rule or a spent budget). Its `deny` budgets are charged now, before the
 *   Approval is looked at, so a spent one refuses it before anyone is asked, and retries of approved
 *   requests racing each other cannot all fit: bounds that deny hold even for approved requests. The
 *   caller gives the charge back (release) unless the request is then let through.
 * - `approved`: a person let the held request through. Its other budgets are counted, never refused.
 */
export async function judgeBudgets(
  { ledger, engine, metrics, onSpent }: BudgetDeps,
  user: UserInfo,
  decision: Decision,
  variants: RequestAttributes[],
  itemCount: number,
  mode: BudgetMode,
  approval?: string,
): Promise<BudgetOutcome> {
  const all = chargesFor(engine, variants, itemCount);
  // A held request's deny budgets are charged before its Approval (hold), its others after (approved).
  const base = mode === 'charge' ? all : all.filter((c) => (c.budget.onExhausted === 'deny') === (mode === 'hold'));
  if (base.length === 0) return { kind: 'charged', warnings: [], release: NOTHING };
  // An approved request a spent budget held grants that budget more room (its `grant`, itself included).
  const heldBy = mode === 'approved' && decision.matched?.rule.startsWith('budget:') ? decision.matched : undefined;
  const charges: BudgetCharge[] = base.map((c) => ({
    ...c,
    enforce: mode !== 'approved' && c.budget.onExhausted !== 'audit',
    ...(heldBy && c.budget.policy === heldBy.policy && `budget:${c.budget.name}` === heldBy.rule ? { grant: { units: c.budget.grant, ...(approval ? { approval } : {}) } } : {}),
  }));
  let res: Reservation;
  try {
    res = await ledger.reserve(user.username, charges);
  } catch (err) {
    if (!(err instanceof BudgetUnavailableError)) throw err;
    return { kind: 'refuse', code: 503, message: `airlock: ${err.message}; nothing was forwarded, retry` };
  }
  if (res.ok) {
    for (const s of res.exhausted) {
      const action = mode === 'approved' ? 'approved' : 'audit';
      metrics.budgetExhaustedTotal.inc({ ...labels(s, user), action });
      onSpent?.(s, user, action);
    }
    return { kind: 'charged', warnings: res.exhausted.filter((s) => s.charge.budget.onExhausted === 'audit').map((s) => `airlock audit: ${spentText(s, user)}`), release: res.release };
  }
  const spent = res.spent;
  const b = spent.charge.budget;
  metrics.budgetExhaustedTotal.inc({ ...labels(spent, user), action: b.onExhausted });
  onSpent?.(spent, user, b.onExhausted);
  if (b.onExhausted === 'hold' && b.hold) {
    return {
      kind: 'hold',
      decision: {
        ...decision,
        action: 'hold',
        reason: `AgentPolicy "${b.policy}" budget "${b.name}": ${spentText(spent, user)}; an approver can let this one request through`,
        hold: { ...b.hold, approvers: { users: [...b.hold.approvers.users], groups: [...b.hold.approvers.groups] } },
        matched: { policy: b.policy, rule: `budget:${b.name}` },
      },
    };
  }
  const message = `airlock: denied by AgentPolicy "${b.policy}" budget "${b.name}": ${spentText(spent, user)}; retry in ${spent.retryAfterSeconds}s`;
  return { kind: 'refuse', code: 429, message, retryAfterSeconds: spent.retryAfterSeconds };
}

function labels(s: Spent, user: UserInfo): { policy: string; budget: string; agent: string } {
  return { policy: s.charge.budget.policy, budget: s.charge.budget.name, agent: user.username };
}

/** "deletes are limited to 20 per 1h per agent; agent-ci used 20" (the budget's message in front when it has one). */
export function spentText(s: Spent, user: UserInfo): string {
  const b = s.charge.budget;
  const scope = s.charge.scope ? ` in ${s.charge.scope}` : '';
  const cost = s.charge.cost > 1 ? ` and this request would add ${s.charge.cost}` : '';
  const granted = s.limit > b.limit ? ` (+${s.limit - b.limit} granted)` : '';
  const limit = `at most ${b.limit}${granted} per ${b.window}${scope}; ${user.username} used ${s.used}${cost}`;
  return b.message ? `${b.message} (${limit})` : `budget spent: ${limit}`;
}
