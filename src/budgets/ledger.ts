// Budget counts shared by every proxy replica: one BudgetUsage object per agent, budget and scope, in
// Airlock's namespace, holding the time of each counted request inside the window. A charge is a
// read-modify-write with the object's resourceVersion (optimistic concurrency), so two replicas charging
// at once cannot both take the last unit: one write fails with a conflict and is judged again on the
// fresh count. The count is exact; the error bound is the clock skew between replicas (each stamps with
// its own clock) and, on the safe side, charges of requests that were then not sent (docs/budgets.md).
import { createHash } from 'node:crypto';
import { API_VERSION, GROUP, VERSION, type BudgetGrant, type BudgetUsage } from '../api/types.js';
import { isAlreadyExists, isConflict, isNotFound, resourcePath } from '../k8s/client.js';
import { errorField, silentLogger, type Logger } from '../log.js';
import type { CompiledBudget } from '../policy/compile.js';

/** The calls the ledger makes (KubeClient has them). */
export interface UsageClient {
  get<T>(path: string): Promise<T>;
  create<T>(path: string, body: unknown): Promise<T>;
  replace<T>(path: string, body: unknown): Promise<T>;
}

/** One budget's share of a request: `cost` units at one scope (a deletecollection costs an object each). */
export interface BudgetCharge {
  budget: CompiledBudget;
  /** '' for a per-agent budget, `namespace=x` or `label:k=v` for a scoped one. */
  scope: string;
  cost: number;
  /** false: counted but never refused (audit budgets, requests a person approved). */
  enforce: boolean;
  /** An approver let a request this budget held through: its limit grows by `units` for one window. */
  grant?: { units: number; approval?: string };
}

export interface Spent {
  charge: BudgetCharge;
  /** Units counted in the window before this request. */
  used: number;
  /** The budget's limit plus what approvers granted in the window. */
  limit: number;
  /** When enough of the window will have passed for this request to fit (at least 1). */
  retryAfterSeconds: number;
}

export type Reservation =
  /** exhausted: budgets that are spent but did not refuse (enforce false); each was charged anyway. */
  | { ok: true; exhausted: Spent[]; release: () => Promise<void> }
  | { ok: false; spent: Spent };

export interface LedgerOptions {
  client: UsageClient;
  /** Airlock's namespace, where BudgetUsage objects live. */
  namespace: string;
  now?: () => number;
  /** After each charge: the units now used, for metrics. */
  onCharged?: (agent: string, charge: BudgetCharge, used: number) => void;
  /** Where failed undos are logged (the charge then stays counted). */
  log?: Logger;
}

/** Where BudgetUsage objects live: Airlock's namespace. */
export function budgetUsagesPath(namespace: string): string {
  return resourcePath({ group: GROUP, version: VERSION, resource: 'budgetusages', namespace });
}

/** Read-modify-write attempts before a charge gives up (the request is then refused, fail closed). */
const MAX_ATTEMPTS = 16;
/** status.charges is bounded by the CRD; charges beyond a spent budget (approved ones) drop the oldest. */
const MAX_CHARGES = 20_000;
/** status.grants is bounded by the CRD too (the oldest are dropped first). */
const MAX_GRANTS = 1000;

export class BudgetUnavailableError extends Error {}

export class BudgetLedger {
  private readonly opts: LedgerOptions;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly collectionPath: string;
  /** The last copy seen of each object: the first write is tried against it (one call when no one else wrote). */
  private readonly seen = new Map<string, BudgetUsage>();
  /** Charges of one key made by this replica run one after another (no self-inflicted conflicts). */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(opts: LedgerOptions) {
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.collectionPath = budgetUsagesPath(opts.namespace);
  }

  /**
   * Charges every budget of a request, or none: when an enforced budget is spent, the charges already made
   * are taken back and the spent one is returned. Throws BudgetUnavailableError when the count cannot be
   * read or written (the caller refuses the request).
   */
  async reserve(agent: string, charges: BudgetCharge[]): Promise<Reservation> {
    const made: { charge: BudgetCharge; stamp: number }[] = [];
    const exhausted: Spent[] = [];
    const ordered = [...charges].sort((a, b) => (nameFor(agent, a) < nameFor(agent, b) ? -1 : 1));
    for (const charge of ordered) {
      const res = await this.serial(nameFor(agent, charge), () => this.charge(agent, charge)).catch(async (err: unknown) => {
        await this.undo(agent, made);
        throw err instanceof BudgetUnavailableError ? err : new BudgetUnavailableError(`budget "${charge.budget.name}" cannot be counted: ${(err as Error)?.message ?? String(err)}`);
      });
      if ('stamp' in res) {
        made.push({ charge, stamp: res.stamp });
        if (res.spent) exhausted.push(res.spent);
        continue;
      }
      await this.undo(agent, made);
      return { ok: false, spent: res };
    }
    return { ok: true, exhausted, release: () => this.undo(agent, made) };
  }

  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return next;
  }

  /** One charge: the stamp it was made with (and whether it overspent an unenforced budget), or why not. */
  private async charge(agent: string, charge: BudgetCharge): Promise<{ stamp: number; spent?: Spent } | Spent> {
    const name = nameFor(agent, charge);
    const b = charge.budget;
    let fresh = false;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let current = this.seen.get(name);
      if (!current || attempt > 0) {
        current = await this.read(name);
        fresh = true;
      }
      const now = this.now();
      const { live, grants, limit } = windowOf(current, b, now);
      const over = live.length + charge.cost > limit;
      if (over && charge.enforce && !fresh) continue; // a stale copy may count charges another replica took back
      const spent = over ? { charge, used: live.length, limit, retryAfterSeconds: retryAfter(live, charge.cost, limit, b.windowMs, now) } : undefined;
      if (spent && charge.enforce) return spent;
      const charges = [...live, ...Array<number>(charge.cost).fill(now)].slice(-MAX_CHARGES);
      const granted = charge.grant ? [...grants, { at: now, units: charge.grant.units, ...(charge.grant.approval ? { approval: charge.grant.approval } : {}) }].slice(-MAX_GRANTS) : grants;
      try {
        const written = await this.write(name, current, usageFor(agent, charge, name, this.opts.namespace), charges, granted);
        this.seen.set(name, written);
        this.opts.onCharged?.(agent, charge, charges.length);
        return { stamp: now, ...(spent ? { spent } : {}) };
      } catch (err) {
        // Conflict: another replica charged first. NotFound: the sweeper deleted an idle object meanwhile.
        if (isConflict(err) || isAlreadyExists(err) || isNotFound(err)) continue;
        throw err;
      }
    }
    throw new BudgetUnavailableError(`budget "${b.name}" is being charged by too many requests at once (${MAX_ATTEMPTS} conflicting writes)`);
  }

  /** Takes back charges of a request that was refused by a later budget (best effort: an undo that fails over-counts). */
  private async undo(agent: string, made: { charge: BudgetCharge; stamp: number }[]): Promise<void> {
    for (const { charge, stamp } of made) {
      const name = nameFor(agent, charge);
      await this.serial(name, async () => {
        for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
          const current = await this.read(name);
          if (!current) return;
          const charges = [...(current.status?.charges ?? [])];
          for (let n = 0; n < charge.cost; n++) {
            const i = charges.lastIndexOf(stamp);
            if (i >= 0) charges.splice(i, 1);
          }
          try {
            this.seen.set(name, await this.write(name, current, current, charges, current.status?.grants ?? []));
            return;
          } catch (err) {
            if (!isConflict(err)) throw err;
          }
        }
      }).catch((err: unknown) => this.log.warn('budget charge could not be taken back; it stays counted', { agent, budget: charge.budget.name, error: errorField(err) }));
    }
  }

  private async read(name: string): Promise<BudgetUsage | undefined> {
    try {
      return await this.opts.client.get<BudgetUsage>(`${this.collectionPath}/${name}`);
    } catch (err) {
      if (isNotFound(err)) {
        this.seen.delete(name);
        return undefined;
      }
      throw err;
    }
  }

  private write(name: string, current: BudgetUsage | undefined, base: BudgetUsage, charges: number[], grants: BudgetGrant[]): Promise<BudgetUsage> {
    const body: BudgetUsage = { ...base, metadata: { ...(current?.metadata ?? base.metadata) }, status: { charges, ...(grants.length ? { grants } : {}) } };
    if (current) return this.opts.client.replace<BudgetUsage>(`${this.collectionPath}/${name}`, body);
    return this.opts.client.create<BudgetUsage>(this.collectionPath, body);
  }
}

/** What of an object is inside the window now: its charges (oldest first), its grants, and the limit with them. */
export function windowOf(u: BudgetUsage | undefined, b: Pick<CompiledBudget, 'limit' | 'windowMs'>, now: number): { live: number[]; grants: BudgetGrant[]; limit: number } {
  const live = (u?.status?.charges ?? []).filter((t) => t > now - b.windowMs).sort((x, y) => x - y);
  const grants = (u?.status?.grants ?? []).filter((g) => g.at > now - b.windowMs);
  return { live, grants, limit: b.limit + grants.reduce((n, g) => n + g.units, 0) };
}

/**
 * Seconds until the oldest charges leave the window and `cost` fits (a cost over the limit never fits: the
 * window). Grants expiring meanwhile can make the real wait longer; the answer is a hint, the count decides.
 */
function retryAfter(live: number[], cost: number, limit: number, windowMs: number, now: number): number {
  const mustExpire = live.length + cost - limit;
  if (mustExpire > live.length) return Math.ceil(windowMs / 1000);
  return Math.max(1, Math.ceil((live[mustExpire - 1]! + windowMs - now) / 1000));
}

/** The object's name: readable prefix, then a hash of everything that makes the key (agent names are not DNS names). */
export function nameFor(agent: string, charge: Pick<BudgetCharge, 'budget' | 'scope'>): string {
  const hash = createHash('sha256').update([charge.budget.policy, charge.budget.name, agent, charge.scope].join('\u0000')).digest('hex').slice(0, 16);
  return `${charge.budget.name.slice(0, 40)}-${hash}`;
}

function usageFor(agent: string, charge: BudgetCharge, name: string, namespace: string): BudgetUsage {
  const b = charge.budget;
  return {
    apiVersion: API_VERSION,
    kind: 'BudgetUsage',
    metadata: {
      name,
      namespace,
      labels: {
        'app.kubernetes.io/managed-by': 'airlock',
        'airlock.dev/budget': b.name,
        ...(b.policy.length <= 63 ? { 'airlock.dev/policy': b.policy } : {}),
      },
    },
    spec: { agent, policy: b.policy, budget: b.name, ...(charge.scope ? { scope: charge.scope } : {}), limit: b.limit, window: b.window },
  };
}
