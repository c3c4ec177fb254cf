// Kubernetes Events for spent budgets, on the AgentPolicy that sets the budget (so `kubectl describe
// agentpolicy` shows them). One per agent, budget and scope per quiet period: an agent looping on a spent
// budget must not write an Event per request.
import { GROUP, VERSION, type AgentPolicy } from '../api/types.js';
import { errorField, silentLogger, type Logger } from '../log.js';
import type { UserInfo } from '../policy/types.js';
import type { Spent } from './ledger.js';

export interface EventClient {
  get<T>(path: string): Promise<T>;
  create<T>(path: string, body: unknown): Promise<T>;
}

/** The least time between two Events of one agent, budget and scope. */
const QUIET_MS = 10 * 60_000;
/** Remembered keys at most (older ones are forgotten first). */
const MAX_KEYS = 10_000;

export function budgetEvents(opts: { client: EventClient; instance: string; now?: () => number; log?: Logger }): (spent: Spent, user: UserInfo, action: string) => void {
  const now = opts.now ?? Date.now;
  const log = opts.log ?? silentLogger;
  const last = new Map<string, number>();
  return (spent, user, action) => {
    const b = spent.charge.budget;
    const key = [b.policy, b.name, user.username, spent.charge.scope].join('\u0000');
    const t = now();
    if ((last.get(key) ?? -Infinity) > t - Math.min(QUIET_MS, b.windowMs)) return;
    last.delete(key);
    last.set(key, t);
    if (last.size > MAX_KEYS) last.delete(last.keys().next().value!);
    void emit(opts.client, opts.instance, spent, user, action, new Date(t).toISOString()).catch((err: unknown) => log.warn('budget event could not be written', { policy: b.policy, budget: b.name, error: errorField(err) }));
  };
}

async function emit(client: EventClient, instance: string, spent: Spent, user: UserInfo, action: string, at: string): Promise<void> {
  const b = spent.charge.budget;
  // kubectl describe finds a cluster-scoped object's Events by name, kind and uid.
  const policy = await client.get<AgentPolicy>(`/apis/${GROUP}/${VERSION}/agentpolicies/${encodeURIComponent(b.policy)}`).catch(() => undefined);
  const scope = spent.charge.scope ? ` in ${spent.charge.scope}` : '';
  const then = action === 'hold' ? 'further requests are held for approval' : action === 'deny' ? 'further requests are refused until the window moves on' : 'further requests are let through and audited';
  await client.create('/api/v1/namespaces/default/events', {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { generateName: 'airlock-budget-', namespace: 'default', labels: { 'app.kubernetes.io/managed-by': 'airlock' }, annotations: { 'airlock.dev/policy': b.policy, 'airlock.dev/budget': b.name, 'airlock.dev/user': user.username } },
    involvedObject: { apiVersion: `${GROUP}/${VERSION}`, kind: 'AgentPolicy', name: b.policy, ...(policy?.metadata.uid ? { uid: policy.metadata.uid } : {}) },
    reason: 'BudgetExhausted',
    message: `budget "${b.name}" spent by ${user.username}${scope}: ${spent.used} of ${b.limit} per ${b.window}; ${then}`.slice(0, 1024),
    type: 'Warning',
    source: { component: 'airlock-proxy' },
    reportingComponent: 'airlock.dev/proxy',
    reportingInstance: instance,
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  });
}
