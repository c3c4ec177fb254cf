// The judge stage: the engine's decision over every judged variant of a request, and what the proxy does
// with it: forward (possibly with a mutation) or answer with a Status (messages from src/policy/verdict.ts,
// shared with the webhook).
import type { ApprovalService, HoldDecision } from '../approvals/types.js';
import type { Decision, ExecTarget, PolicyEngine, RequestAttributes, UserInfo } from '../policy/types.js';
import { execAttributesOf } from '../policy/exec-facts.js';
import { baseAttributes } from './admit.js';
import { judgedVerbs, type RequestInfo } from './request-info.js';
import type { Subject } from './subject.js';
import type { EffectiveOptions } from './request-options.js';
import { collectionItemsOf } from '../approvals/effect.js';
import { parseDurationMs } from './duration.js';
import { holdVerdict, verdictOf } from '../policy/verdict.js';
import { kubeStatus, type KubeStatus } from './status.js';

export type Verdict =
  | { forward: true; decision: Decision; approval?: string }
  | { forward: false; decision?: Decision; status: KubeStatus; approval?: string };

const RANK: Record<Decision['action'], number> = { allow: 0, mutate: 1, hold: 2, deny: 3 };

/** Decides once per judged variant (the engine counts decisions in its metrics) (verbs, per-item deletes) and keeps the strictest decision. */
export function decideAll(engine: PolicyEngine, variants: RequestAttributes[]): Decision {
  let worst: Decision | undefined;
  for (const attrs of variants) {
    let d: Decision;
    try {
      d = engine.decide(attrs);
    } catch (err) {
      d = { action: 'deny', reason: `policy evaluation failed: ${(err as Error).message}`, agent: true, policies: [], explanations: [], audits: [], recording: { enabled: true, bodies: false } };
    }
    if (!d.agent) return d;
    if (!worst || RANK[d.action] > RANK[worst.action]) worst = d;
    if (worst.action === 'deny') break;
  }
  return worst!; // the engine records airlock_decisions_total and its own duration
}

export const NOT_AN_AGENT = 'not an agent identity governed by any AgentPolicy: this endpoint serves agents only';

/**
 * The proxy's envelope around the shared decision core (src/policy/verdict.ts): forward, or a 403 Status
 * with the core's message. Holds go through the ApprovalService (async: 403 naming the Approval; inline:
 * wait for the decision, then judge the retry).
 */
export async function verdictFor(
  d: Decision,
  attrs: RequestAttributes,
  approvals: ApprovalService | undefined,
  signal?: AbortSignal,
): Promise<Verdict> {
  if (!d.agent) return { forward: false, decision: d, status: kubeStatus(403, `airlock: ${attrs.user.username} is ${NOT_AN_AGENT}`, 'Forbidden') };
  if (d.action === 'hold' && approvals) return hold(d, attrs, approvals, signal);
  const v = verdictOf(d, true);
  return v.admit ? { forward: true, decision: d } : { forward: false, decision: d, status: kubeStatus(403, v.message, 'Forbidden', details(attrs)) };
}

function details(attrs: RequestAttributes, name?: string): { name?: string; group?: string; kind?: string } {
  return { name: name ?? attrs.name, group: attrs.apiGroup, kind: attrs.resource };
}

async function hold(d: HoldDecision, attrs: RequestAttributes, approvals: ApprovalService, signal: AbortSignal | undefined): Promise<Verdict> {
  let outcome = await approvals.hold(attrs, d);
  const name = outcome.approval.metadata.name ?? '';
  // A dry run is never written as an Approval (nothing to wait for): it is answered at once.
  if (outcome.state === 'pending' && d.hold.mode === 'inline' && !attrs.dryRun) {
    const latest = await approvals.waitForDecision(name, parseDurationMs(d.hold.inlineTimeout, 30_000), signal);
    if (latest.status?.phase === 'Approved') outcome = await approvals.hold(attrs, d);
    else if (latest.status?.phase === 'Denied') outcome = { approval: latest, state: 'denied' };
    else if (latest.status?.phase === 'Expired') outcome = { approval: latest, state: 'expired' };
  }
  const v = holdVerdict(d, { ...outcome, persisted: !attrs.dryRun });
  if (v.admit) return { forward: true, decision: d, approval: name };
  return { forward: false, decision: d, approval: name, status: kubeStatus(403, v.message, 'Forbidden', { ...details(attrs), name, kind: 'Approval', group: 'airlock.dev' }) };
}

/**
 * The attributes the engine judges for one request: one per verb it is judged under (connect
 * subresources: create and get), plus one delete per item a deletecollection would remove. The first
 * is the request itself: a hold is keyed on it (with the items, for a deletecollection).
 */
export function judgedAttributes(
  info: RequestInfo,
  user: UserInfo,
  method: string,
  effective: EffectiveOptions,
  subject: Pick<Subject, 'object' | 'oldObject' | 'items'>,
  nsLabels: Record<string, string> | undefined,
  execTarget?: ExecTarget,
): RequestAttributes[] {
  const variants: RequestAttributes[] = [];
  // One object for every variant: what is worked out about the command is worked out once.
  const exec = execAttributesOf(info, effective.options, execTarget);
  for (const verb of judgedVerbs(info, method)) {
    const a = baseAttributes(info, user, verb, effective);
    if (exec) a.exec = exec;
    if (subject.object) a.object = subject.object;
    if (subject.oldObject) a.oldObject = subject.oldObject;
    if (subject.items) a.collectionItems = collectionItemsOf(subject.items);
    if (nsLabels) a.namespaceLabels = nsLabels;
    variants.push(a);
  }
  for (const item of subject.items ?? []) {
    const meta = (item.metadata ?? {}) as { name?: string };
    const a = baseAttributes(info, user, 'delete', effective);
    if (meta.name) a.name = meta.name;
    a.oldObject = item;
    if (nsLabels) a.namespaceLabels = nsLabels;
    variants.push(a);
  }
  return variants;
}
