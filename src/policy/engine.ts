// The policy engine: holds compiled AgentPolicies and decides requests. Pure (no I/O in decide); the
// proxy, the webhook and the offline tester all call it. See docs/policy.md for the semantics.
import type { AgentPolicy, JsonPatchOp, RecordingSpec, ServiceAccountPermission } from '../api/types.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import type { AuditHit, CompileResult, Decision, DecisionCommon, Explanation, PolicyEngine, RequestAttributes, ResolvedMasking, RuleRef, UserInfo } from './types.js';
import { compilePolicy, staticKeyOf, staticKeyString, type CompiledBudget, type CompiledPolicy, type CompiledRule, type ResolvedBucket, type ResolvedHold, type ResolvedRateLimits, type StaticKey } from './compile.js';
import { isDiscoveryPath } from './nonresource.js';
import { MUTATING_VERBS, PROVENANCE_AGENT, WRITE_VERBS, creatorOf } from './detectors/util.js';
import { regoExplanations, type ConfigMapLoader, type RegoEvaluator } from './rego.js';
import { permissionKey } from './service-account-power.js';

export interface EngineOptions {
  loadConfigMap?: ConfigMapLoader;
  now?: () => Date;
  /** Where decisions are counted (default: a registry of the engine's own); false records none (the offline tester). */
  metrics?: Metrics | false;
}

/** What one policy says about a request. */
interface Outcome {
  policy: string;
  rule: string;
  action: 'allow' | 'deny' | 'hold' | 'mutate';
  /** Set for defaults and failures; rules leave it empty and give `text` (built lazily by reasonOf). */
  reason: string;
  text?: string;
  explanations: Explanation[];
  hold?: ResolvedHold;
  patch?: JsonPatchOp[];
  audits: AuditHit[];
}

interface Merged { names: string[]; masking: ResolvedMasking; recording: Required<RecordingSpec>; rateLimits: ResolvedRateLimits | undefined }

/** Recording when a decision could not be made (fail closed): the request is recorded, without bodies. */
const FAILSAFE_RECORDING: Required<RecordingSpec> = { enabled: true, bodies: false, readFailurePolicy: 'Fail' };

const RANK = { deny: 3, hold: 2, mutate: 1, allow: 0 } as const;
export const BUILTIN_POLICY = 'airlock';
const MAX_REASON_EXPLANATIONS = 3;

function reasonOf(o: Outcome): string {
  return o.reason || `AgentPolicy "${o.policy}" rule "${o.rule}": ${o.text ?? ''}${summarise(o.explanations)}`;
}

function summarise(ex: Explanation[]): string {
  if (ex.length === 0) return '';
  const shown = ex.slice(0, MAX_REASON_EXPLANATIONS).map((e) => `${e.path}: ${e.message}`).join('; ');
  return ` (${shown}${ex.length > MAX_REASON_EXPLANATIONS ? `; and ${ex.length - MAX_REASON_EXPLANATIONS} more` : ''})`;
}

export class Engine implements PolicyEngine {
  private readonly policies = new Map<string, CompiledPolicy>();
  private sorted: CompiledPolicy[] = [];
  private readonly mergedCache = new Map<string, Merged>();
  private readonly selectionCache = new Map<string, CompiledPolicy[]>();
  /** ConfigMaps policies load Rego from, by namespace: an agent rewriting one would rewrite its own policy. */
  private policyInputs = new Map<string, string[]>();
  private readonly generations = new Map<string, number>();
  private readonly loadedAt = new Map<string, Date>();
  private readonly loadConfigMap: ConfigMapLoader | undefined;
  readonly now: () => Date;
  private readonly metrics: Pick<Metrics, 'decisionsTotal' | 'decisionDuration'> | undefined;

  constructor(opts: EngineOptions = {}) {
    this.loadConfigMap = opts.loadConfigMap;
    this.now = opts.now ?? (() => new Date());
    this.metrics = opts.metrics === false ? undefined : (opts.metrics ?? createMetrics());
  }

  async upsert(policy: AgentPolicy): Promise<CompileResult> {
    // Compilation may await (Rego from a ConfigMap): only the newest upsert/remove of a name takes effect.
    const rawName = (policy as { metadata?: { name?: unknown } } | undefined)?.metadata?.name;
    const seq = typeof rawName === 'string' ? this.bump(rawName) : 0;
    const current = (): boolean => typeof rawName !== 'string' || this.generations.get(rawName) === seq;
    let res: Awaited<ReturnType<typeof compilePolicy>>;
    try {
      res = await compilePolicy(policy, { ...(this.loadConfigMap ? { loadConfigMap: this.loadConfigMap } : {}) });
    } catch (e) {
      const errors = [`(root): cannot compile policy: ${(e as Error)?.message ?? String(e)}`];
      if (typeof rawName === 'string' && rawName) {
        // Keep whatever was known to be safe: deny everyone the stored version named.
        const prev = this.policies.get(rawName);
        if (prev && current()) this.store({ ...prev, valid: false, errors, rules: [], defaultAction: 'deny', governs: () => true, candidateCache: new Map() });
      }
      return { ok: false, errors, warnings: [] };
    }
    if (res.compiled && current()) this.store(res.compiled);
    else if (res.compiled) res.result.warnings.push('superseded by a newer update of the same policy while compiling; not applied');
    return res.result;
  }

  remove(name: string): void {
    this.bump(name);
    this.loadedAt.delete(name);
    const prev = this.policies.get(name);
    if (this.policies.delete(name)) { this.reindex(); void releaseRego(prev!, undefined); }
  }

  /**
   * Frees the Rego instances of every policy; the Rego worker thread ends once no engine holds any. The
   * engine stays usable (a later Rego evaluation loads its policy again).
   */
  async close(): Promise<void> {
    await Promise.all([...this.policies.values()].map((p) => releaseRego(p, undefined)));
  }

  private bump(name: string): number {
    const n = (this.generations.get(name) ?? 0) + 1;
    this.generations.set(name, n);
    return n;
  }

  /** The loaded policies, whether each compiled, and when (from the `now` option), for status reporting. */
  list(): { name: string; valid: boolean; errors: string[]; rules: number; loadedAt: Date }[] {
    return this.sorted.map((p) => ({ name: p.name, valid: p.valid, errors: [...p.errors], rules: p.rules.length, loadedAt: this.loadedAt.get(p.name)! }));
  }

  private store(p: CompiledPolicy): void {
    const prev = this.policies.get(p.name);
    this.policies.set(p.name, p);
    this.loadedAt.set(p.name, this.now());
    this.reindex();
    if (prev && prev !== p) void releaseRego(prev, p);
  }

  private reindex(): void {
    this.mergedCache.clear();
    this.selectionCache.clear();
    this.policyInputs = new Map();
    for (const p of this.policies.values()) {
      for (const r of p.rules) if (r.regoConfigMap) this.policyInputs.set(r.regoConfigMap.namespace, [...(this.policyInputs.get(r.regoConfigMap.namespace) ?? []), r.regoConfigMap.name]);
    }
    this.sorted = [...this.policies.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Why an agent's write touches a ConfigMap some policy loads its Rego from, if it does. */
  private policyInputWrite(req: RequestAttributes): string | undefined {
    if (!req.isResourceRequest || req.apiGroup !== '' || req.resource !== 'configmaps' || !req.namespace || !MUTATING_VERBS.has(req.verb)) return undefined;
    const names = this.policyInputs.get(req.namespace);
    if (!names) return undefined;
    const name = req.name ?? (typeof (req.object as { metadata?: { name?: unknown } } | undefined)?.metadata?.name === 'string' ? String((req.object as { metadata: { name: string } }).metadata.name) : undefined);
    // A collection delete removes them too; a create without a name (generateName) cannot make one.
    if (name === undefined ? req.verb !== 'deletecollection' : !names.includes(name)) return undefined;
    return `ConfigMap ${req.namespace}/${name ?? '(collection)'} holds an AgentPolicy's Rego: agents may not change it; denied`;
  }

  policiesFor(user: UserInfo): string[] {
    return this.identityPolicies(user).map((p) => p.name);
  }

  /** The union of the ServiceAccount bounds of this identity's valid policies that use powerfulServiceAccount. */
  serviceAccountBound(user: UserInfo): ServiceAccountPermission[] {
    const byKey = new Map<string, ServiceAccountPermission>();
    for (const p of this.identityPolicies(user)) {
      if (!p.valid || !p.rules.some((r) => r.detectors.some((d) => d.name === 'powerfulServiceAccount'))) continue;
      for (const perm of p.settings.serviceAccountBound) byKey.set(permissionKey(perm), perm);
    }
    return [...byKey.values()];
  }

  /** Merged masking settings for an identity (undefined when no policy names it). */
  maskingFor(user: UserInfo): ResolvedMasking | undefined {
    return mergeMasking(this.identityPolicies(user));
  }

  /** The rate limits of an identity: the strictest of its policies' (undefined: none limits it). */
  rateLimitsFor(user: UserInfo): ResolvedRateLimits | undefined {
    const ps = this.identityPolicies(user);
    return ps.length ? this.mergedFor(ps).rateLimits : undefined;
  }

  /**
   * The budgets a request counts against: those of the identity's valid policies that govern its namespace
   * and whose match it meets (an invalid policy denies everything anyway).
   */
  budgetsFor(req: RequestAttributes): CompiledBudget[] {
    const user = normaliseUser(req?.user);
    if (!user) return [];
    let key: StaticKey | undefined;
    let keyString = '';
    const out: CompiledBudget[] = [];
    for (const p of this.selecting(user)) {
      if (!p.valid || p.budgets.length === 0 || !p.governs(req.namespace)) continue;
      if (!key) {
        key = staticKeyOf(req);
        keyString = staticKeyString(key);
      }
      let candidates = p.budgetCache.get(keyString);
      if (!candidates) {
        candidates = p.budgets.filter((b) => b.staticMatch(key!));
        if (p.budgetCache.size >= CANDIDATE_CACHE_MAX) p.budgetCache.clear();
        p.budgetCache.set(keyString, candidates);
      }
      for (const b of candidates) if (b.dynamicMatch(req)) out.push(b);
    }
    return out;
  }

  /** Masking and recording merged over a set of policies, cached until the policies change. */
  private mergedFor(ps: CompiledPolicy[]): Merged {
    const key = ps.map((p) => p.name).join('\u0000');
    let m = this.mergedCache.get(key);
    if (!m) {
      m = { names: ps.map((p) => p.name), masking: mergeMasking(ps)!, recording: mergeRecording(ps), rateLimits: mergeRateLimits(ps) };
      if (this.mergedCache.size >= 4096) this.mergedCache.clear();
      this.mergedCache.set(key, m);
    }
    return m;
  }

  private identityPolicies(user: UserInfo): CompiledPolicy[] {
    const u = normaliseUser(user);
    return u ? this.selecting(u) : [];
  }

  /**
   * The policies that name an identity: an index lookup per request (by username, groups and extras, the
   * only inputs of an agent selector), filled on first sight and cleared when the policies change.
   */
  private selecting(u: UserInfo): CompiledPolicy[] {
    const key = JSON.stringify([u.username, u.groups, u.extra ?? null]);
    let hit = this.selectionCache.get(key);
    if (!hit) {
      hit = this.sorted.filter((p) => p.selectsUser(u));
      if (this.selectionCache.size >= 10_000) this.selectionCache.clear();
      this.selectionCache.set(key, hit);
    }
    return hit;
  }

  decide(req: RequestAttributes): Decision {
    const start = process.hrtime.bigint();
    let d: Decision;
    try {
      d = this.decideUnsafe(req);
    } catch (e) {
      d = {
        action: 'deny', reason: `internal error while deciding; denied (fail closed): ${(e as Error)?.message ?? String(e)}`,
        agent: true, policies: [], explanations: [], audits: [], masking: strictMasking(), recording: { ...FAILSAFE_RECORDING },
      };
    }
    if (this.metrics) {
      const via = typeof req?.via === 'string' ? req.via : 'unknown';
      this.metrics.decisionsTotal.inc({ action: d.action, policy: d.matched?.policy ?? '', rule: d.matched?.rule ?? '', via });
      this.metrics.decisionDuration.observe({ via }, Number(process.hrtime.bigint() - start) / 1e9);
    }
    return d;
  }

  private decideUnsafe(raw: RequestAttributes): Decision {
    const user = normaliseUser(raw?.user);
    if (!user || typeof raw.verb !== 'string' || !raw.verb) {
      return {
        action: 'deny', reason: 'malformed request attributes (missing user or verb); denied', agent: true, policies: [],
        explanations: [], audits: [], masking: strictMasking(), recording: { ...FAILSAFE_RECORDING },
      };
    }
    const req: RequestAttributes = { ...raw, user, verb: raw.verb.toLowerCase(), apiGroup: raw.apiGroup ?? '', resource: raw.resource ?? '', isResourceRequest: raw.isResourceRequest !== false };
    const mine = this.selecting(user);
    if (mine.length === 0) {
      return { action: 'allow', agent: false, policies: [], explanations: [], audits: [], recording: { enabled: false, bodies: false, readFailurePolicy: 'Ignore' } };
    }
    const merged = this.mergedFor(mine);
    const common = (matched: RuleRef | undefined, explanations: Explanation[], audits: AuditHit[]): DecisionCommon => ({
      ...(matched ? { matched } : {}), agent: true, policies: [...merged.names], explanations, audits,
      masking: { ...merged.masking, envNamePatterns: [...merged.masking.envNamePatterns], patterns: [...merged.masking.patterns] }, recording: { ...merged.recording },
    });

    const invalid = mine.filter((p) => !p.valid);
    if (invalid.length) {
      const p = invalid[0]!;
      const first = p.errors[0] ?? 'invalid';
      return {
        action: 'deny',
        reason: `AgentPolicy "${p.name}" is invalid, so its agents are denied everything until it is fixed: ${first}${p.errors.length > 1 ? ` (and ${p.errors.length - 1} more)` : ''}`,
        ...common({ policy: p.name, rule: 'invalid' }, [], []),
      };
    }
    const input = this.policyInputWrite(req);
    if (input) return { action: 'deny', reason: input, ...common({ policy: BUILTIN_POLICY, rule: 'policy-inputs' }, [], []) };
    const forged = provenanceWrite(req);
    if (forged) return { action: 'deny', reason: forged, ...common({ policy: BUILTIN_POLICY, rule: 'provenance' }, [], []) };
    if (!req.isResourceRequest && isDiscoveryPath(req.path, req.verb)) {
      return { action: 'allow', ...common({ policy: BUILTIN_POLICY, rule: 'discovery' }, [], []) };
    }
    const governing = mine.filter((p) => p.governs(req.namespace));
    if (governing.length === 0) {
      const where = req.namespace ? `namespace "${req.namespace}"` : 'cluster-scoped or all-namespace requests';
      return { action: 'deny', reason: `no AgentPolicy of ${user.username} governs ${where}; denied`, ...common(undefined, [], []) };
    }

    const memo: DetectorMemo = new Map();
    const key = staticKeyOf(req);
    const keyString = staticKeyString(key);
    const outcomes = governing.map((p) => evaluatePolicy(p, req, memo, key, keyString));
    const audits = outcomes.flatMap((o) => o.audits);
    let top = outcomes[0]!;
    for (const o of outcomes) if (RANK[o.action] > RANK[top.action]) top = o;
    const same = outcomes.filter((o) => o.action === top.action);
    switch (top.action) {
      case 'deny': {
        return { action: 'deny', reason: reasonOf(top), ...common({ policy: top.policy, rule: top.rule }, dedupe(same), audits) };
      }
      case 'hold': {
        // The strictest hold wins: most approvers required, then policy-name order.
        let h = same[0]!;
        for (const o of same) if ((o.hold?.required ?? 0) > (h.hold?.required ?? 0)) h = o;
        const hold = h.hold!;
        return {
          action: 'hold', reason: reasonOf(h),
          hold: { ...hold, approvers: { users: [...hold.approvers.users], groups: [...hold.approvers.groups] } },
          ...common({ policy: h.policy, rule: h.rule }, dedupe(same), audits),
        };
      }
      case 'mutate':
        return {
          action: 'mutate', patch: same.flatMap((o) => o.patch ?? []), reason: same.map(reasonOf).join('; '),
          ...common({ policy: top.policy, rule: top.rule }, dedupe(same), audits),
        };
      default:
        return { action: 'allow', ...common({ policy: top.policy, rule: top.rule }, dedupe(same), audits) };
    }
  }
}

const creatorIn = (o: Record<string, unknown> | undefined): string | undefined => {
  try {
    return creatorOf(o);
  } catch {
    return undefined; // an object that cannot be read is judged by the rules and their failurePolicy
  }
};

/**
 * Why an agent's write forges the creator annotation, if it does: detectors trust it to tell an agent's own
 * objects (which it may delete) from others'. On a new object it may only name the agent itself (the proxy
 * stamps it so); on an existing one it may not change. Judged here, so the webhook holds this line for
 * writes that bypass the proxy as the proxy's write guards do for its own.
 */
function provenanceWrite(req: RequestAttributes): string | undefined {
  // A status write carries the whole object, and some built-in status strategies keep its annotations.
  if (!req.isResourceRequest || (req.subresource && req.subresource !== 'status') || !req.object || !WRITE_VERBS.has(req.verb)) return undefined;
  const now = creatorIn(req.object);
  if (req.oldObject ? now === creatorIn(req.oldObject) : now === undefined || now === req.user.username) return undefined;
  return `metadata.annotations["${PROVENANCE_AGENT}"] records which agent created the object (Airlock sets it on create); agents may not set it to another name or change it; denied`;
}

/** Explanations of several outcomes without repeats (policies sharing rules report the same fields). */
function dedupe(outcomes: Outcome[]): Explanation[] {
  if (outcomes.length === 1) return [...outcomes[0]!.explanations];
  const seen = new Set<Explanation>();
  const keys = new Set<string>();
  const out: Explanation[] = [];
  for (const o of outcomes) {
    for (const e of o.explanations) {
      if (seen.has(e)) continue;
      seen.add(e);
      const k = `${e.detector}\u0000${e.path}\u0000${e.message}`;
      if (keys.has(k)) continue;
      keys.add(k);
      out.push(e);
    }
  }
  return out;
}

function normaliseUser(u: unknown): UserInfo | undefined {
  if (!u || typeof u !== 'object') return undefined;
  const x = u as Partial<UserInfo>;
  if (typeof x.username !== 'string' || x.username === '') return undefined;
  const groups = Array.isArray(x.groups) ? x.groups.filter((g): g is string => typeof g === 'string') : [];
  const extra = x.extra && typeof x.extra === 'object' ? x.extra : undefined;
  return { username: x.username, ...(x.uid !== undefined ? { uid: x.uid } : {}), groups, ...(extra ? { extra } : {}) };
}

/** Runs one policy's ordered rules: the first matching non-audit rule decides; audit rules record and continue. */
function evaluatePolicy(p: CompiledPolicy, req: RequestAttributes, memo: DetectorMemo, key: StaticKey, keyString: string): Outcome {
  const audits: AuditHit[] = [];
  for (const r of candidates(p, key, keyString)) {
    let fired: Explanation[];
    try {
      if (!r.dynamicMatch(req)) continue;
      fired = conditions(r, p, req, memo);
    } catch (e) {
      const msg = `rule "${r.name}" could not be evaluated: ${(e as Error)?.message ?? String(e)}`;
      if (p.failurePolicy === 'allow') {
        audits.push({ policy: p.name, rule: r.name, message: `${msg}; skipped (failurePolicy allow)`, explanations: [] });
        continue;
      }
      return { policy: p.name, rule: r.name, action: 'deny', reason: `AgentPolicy "${p.name}" ${msg}; denied (fail closed)`, explanations: [], audits };
    }
    if ((r.detectors.length > 0 || r.rego) && fired.length === 0) continue;
    if (r.action === 'audit') {
      audits.push({ policy: p.name, rule: r.name, message: r.message ?? `AgentPolicy "${p.name}" rule "${r.name}" matched`, explanations: fired });
      continue;
    }
    // The reason is built only for the outcome that ends up deciding (see reasonOf).
    const base: Outcome = { policy: p.name, rule: r.name, action: r.action, reason: '', text: r.message ?? defaultText(r.action), explanations: fired, audits };
    if (r.action === 'hold') return { ...base, hold: r.hold! };
    if (r.action === 'mutate') return { ...base, patch: r.patch ?? [] };
    return base;
  }
  const label = `AgentPolicy "${p.name}" defaultAction`;
  switch (p.defaultAction) {
    case 'audit':
      audits.push({ policy: p.name, rule: 'defaultAction', message: `${label} audit: no rule matched`, explanations: [] });
      return { policy: p.name, rule: 'defaultAction', action: 'allow', reason: `${label}: audit (allowed)`, explanations: [], audits };
    case 'hold':
      return { policy: p.name, rule: 'defaultAction', action: 'hold', reason: `${label}: no rule matched; needs approval`, explanations: [], audits, hold: p.defaultHold! };
    case 'allow':
      return { policy: p.name, rule: 'defaultAction', action: 'allow', reason: `${label}: allow`, explanations: [], audits };
    default:
      return { policy: p.name, rule: 'defaultAction', action: 'deny', reason: `${label}: no rule allows ${describe(req)}; denied`, explanations: [], audits };
  }
}

/** Frees the Rego instances of a policy that is no longer stored (those still used by `next` are kept). */
function releaseRego(p: CompiledPolicy, next: CompiledPolicy | undefined): Promise<unknown> {
  const keep = new Set<RegoEvaluator>();
  for (const r of next?.rules ?? []) if (r.rego) keep.add(r.rego);
  return Promise.all(p.rules.filter((r) => r.rego && !keep.has(r.rego)).map((r) => r.rego!.release()));
}

const CANDIDATE_CACHE_MAX = 4096;

/** The rules of a policy that pass the static checks for this verb/group/resource, in order (cached per policy). */
function candidates(p: CompiledPolicy, key: StaticKey, keyString: string): CompiledRule[] {
  let list = p.candidateCache.get(keyString);
  if (!list) {
    list = p.rules.filter((r) => r.staticMatch(key));
    if (p.candidateCache.size >= CANDIDATE_CACHE_MAX) p.candidateCache.clear();
    p.candidateCache.set(keyString, list);
  }
  return list;
}

/** Detector results of one decision, per settings object and detector (detectors are pure). */
type DetectorMemo = Map<object, Map<string, Explanation[]>>;

function runDetector(memo: DetectorMemo, name: string, fn: CompiledRule['detectors'][number]['fn'], p: CompiledPolicy, req: RequestAttributes): Explanation[] {
  let bySettings = memo.get(p.settings);
  if (!bySettings) { bySettings = new Map(); memo.set(p.settings, bySettings); }
  let res = bySettings.get(name);
  if (!res) { res = fn(req, p.settings); bySettings.set(name, res); }
  return res;
}

/** Detector and Rego conditions of a matching rule: their explanations (empty = the rule does not apply). */
function conditions(r: CompiledRule, p: CompiledPolicy, req: RequestAttributes, memo: DetectorMemo): Explanation[] {
  if (r.detectors.length === 1 && !r.rego) return runDetector(memo, r.detectors[0]!.name, r.detectors[0]!.fn, p, req);
  const out: Explanation[] = [];
  for (const d of r.detectors) {
    const res = runDetector(memo, d.name, d.fn, p, req);
    for (const e of res) out.push(e);
  }
  if (r.rego && (r.detectors.length === 0 || out.length > 0)) {
    const res = r.rego.evaluate(req);
    if (!res.violation) return [];
    out.push(...regoExplanations(res, `spec.rules[${r.index}].rego`));
  }
  return out;
}

function defaultText(action: string): string {
  switch (action) {
    case 'deny': return 'denied';
    case 'hold': return 'needs approval';
    case 'mutate': return 'mutated';
    default: return 'allowed';
  }
}

export function describe(req: RequestAttributes): string {
  if (!req.isResourceRequest) return `${req.verb} ${req.path ?? ''}`.trim();
  const res = `${req.resource}${req.subresource ? `/${req.subresource}` : ''}`;
  const group = req.apiGroup ? `.${req.apiGroup}` : '';
  const where = req.namespace ? ` in namespace ${req.namespace}` : '';
  return `${req.verb} ${res}${group}${req.name ? ` ${req.name}` : ''}${where}`;
}

function mergeMasking(ps: CompiledPolicy[]): ResolvedMasking | undefined {
  if (ps.length === 0) return undefined;
  const env = new Map<string, RegExp>();
  const pats = new Map<string, RegExp>();
  let secrets = false; let configMaps = false; let logs = false;
  for (const p of ps) {
    secrets ||= p.masking.secrets; configMaps ||= p.masking.configMaps; logs ||= p.masking.logs;
    for (const r of p.masking.envNamePatterns) env.set(r.source + '/' + r.flags, r);
    for (const r of p.masking.patterns) pats.set(r.source + '/' + r.flags, r);
  }
  return { secrets, configMaps, logs, envNamePatterns: [...env.values()], patterns: [...pats.values()] };
}

/** The most demanding of the policies: recorded if any records, reads refused if any refuses them. */
function mergeRecording(ps: CompiledPolicy[]): Required<RecordingSpec> {
  return {
    enabled: ps.some((p) => p.recording.enabled),
    bodies: ps.some((p) => p.recording.bodies),
    readFailurePolicy: ps.some((p) => p.recording.readFailurePolicy === 'Fail') ? 'Fail' : 'Ignore',
  };
}

/** The strictest limits of the policies: the lowest rate and burst per class, the lowest in-flight bound. */
function mergeRateLimits(ps: CompiledPolicy[]): ResolvedRateLimits | undefined {
  const limits = ps.map((p) => p.rateLimits).filter((r): r is ResolvedRateLimits => r !== undefined);
  if (limits.length === 0) return undefined;
  const lowest = (pick: (r: ResolvedRateLimits) => ResolvedBucket | undefined): ResolvedBucket | undefined => {
    const bs = limits.map(pick).filter((b): b is ResolvedBucket => b !== undefined);
    return bs.length ? { qps: Math.min(...bs.map((b) => b.qps)), burst: Math.min(...bs.map((b) => b.burst)) } : undefined;
  };
  const read = lowest((r) => r.read);
  const write = lowest((r) => r.write);
  const connect = lowest((r) => r.connect);
  const inFlight = limits.map((r) => r.maxInFlight).filter((n): n is number => n !== undefined);
  return {
    ...(read ? { read } : {}), ...(write ? { write } : {}), ...(connect ? { connect } : {}),
    ...(inFlight.length ? { maxInFlight: Math.min(...inFlight) } : {}),
    priority: limits.some((r) => r.priority === 'reads') ? 'reads' : 'none',
  };
}

function strictMasking(): ResolvedMasking {
  return { secrets: true, configMaps: true, logs: true, envNamePatterns: [], patterns: [] };
}
