// Compiles an AgentPolicy into matchers and closures once, at upsert, so decide() only runs predicates.
// Validation = the CRD schema (ajv) + semantic checks; every message names the offending field.
import type { Action, AgentPolicy, AgentPolicySpec, DetectorSettings, HoldSpec, JsonPatchOp, LabelSelector, RateLimitSpec, RecordingSpec, Rule, RuleMatch } from '../api/types.js';
import { parseDurationMs } from '../proxy/duration.js';
import { validateObject } from '../api/validate.js';
import type { CompileResult, RequestAttributes, ResolvedMasking, UserInfo } from './types.js';
import { compileGlobs, compileGlobsOrNone, globError, type Matcher } from './glob.js';
import { compileSelector, labelsOf, selectorErrors, type LabelPredicate } from './selector.js';
import { DETECTORS, DETECTOR_RELEVANCE, type Detector, type ResolvedDetectorSettings } from './detectors/index.js';
import { BUILTIN_DANGEROUS_CAPABILITIES, normCap } from './detectors/pod.js';
import { normaliseRegistryPrefix } from './detectors/images.js';
import { DEFAULT_SERVICE_ACCOUNT_BOUND, normalisePermission } from './service-account-power.js';
import { RegoError, RegoEvaluator, type ConfigMapLoader } from './rego.js';
import { suggest } from './suggest.js';
import { compileCommandPattern, type CommandPattern } from './exec-command.js';
import { commandOf } from './exec-facts.js';

export type DecidingAction = 'allow' | 'deny' | 'hold' | 'mutate';
export type ResolvedHold = Required<Pick<HoldSpec, 'required' | 'ttl' | 'mode' | 'inlineTimeout' | 'uses'>> & { approvers: { users: string[]; groups: string[] } };

export interface CompiledRule {
  name: string;
  index: number;
  action: Action;
  message?: string;
  /** Static checks (verb, group, resource) plus whether any of the rule's detectors can fire for that key. */
  staticMatch: (k: StaticKey) => boolean;
  dynamicMatch: (req: RequestAttributes) => boolean;
  detectors: { name: string; fn: Detector }[];
  rego?: RegoEvaluator;
  /** The ConfigMap the rule's Rego is loaded from (agents may not write it: see the engine). */
  regoConfigMap?: { namespace: string; name: string };
  hold?: ResolvedHold;
  patch?: JsonPatchOp[];
}

export interface CompiledPolicy {
  name: string;
  valid: boolean;
  errors: string[];
  selectsUser: (u: UserInfo) => boolean;
  /** Whether the policy governs a request in this namespace (undefined: cluster-scoped or all namespaces). */
  governs: (namespace: string | undefined) => boolean;
  rules: CompiledRule[];
  defaultAction: Exclude<Action, 'mutate'>;
  defaultHold?: ResolvedHold;
  settings: ResolvedDetectorSettings;
  masking: ResolvedMasking;
  recording: Required<RecordingSpec>;
  failurePolicy: 'deny' | 'allow';
  /** Per-policy cache: static request key -> candidate rules (filled by the engine). */
  candidateCache: Map<string, CompiledRule[]>;
  budgets: CompiledBudget[];
  /** Per-policy cache: static request key -> budgets whose static checks pass (filled by the engine). */
  budgetCache: Map<string, CompiledBudget[]>;
  rateLimits?: ResolvedRateLimits;
}

/** A budget of spec.budgets, ready to match (restrictively: a request whose facts are unknown counts). */
export interface CompiledBudget extends CompiledMatch {
  policy: string;
  name: string;
  limit: number;
  window: string;
  windowMs: number;
  per: { namespace: boolean; label?: string };
  onExhausted: 'hold' | 'deny' | 'audit';
  hold?: ResolvedHold;
  /** Units an approval of a held request adds to the window's limit (onExhausted hold). */
  grant: number;
  message?: string;
}

export interface ResolvedBucket { qps: number; burst: number }

/** spec.rateLimits with defaults filled in (absent classes are not limited). */
export interface ResolvedRateLimits {
  read?: ResolvedBucket;
  write?: ResolvedBucket;
  connect?: ResolvedBucket;
  maxInFlight?: number;
  priority: 'reads' | 'none';
}

export const HOLD_DEFAULTS = { required: 1, ttl: '1h', mode: 'async' as const, inlineTimeout: '25s', uses: 1 };
export const DEFAULT_PROTECTED_NAMESPACES = ['airlock-system'];
const KNOWN_VERBS = new Set(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy', 'connect',
  'escalate', 'bind', 'impersonate', 'approve', 'sign', 'use', 'post', 'put', 'head', 'options', '*']);
const RESTRICTIVE = new Set<Action>(['deny', 'hold']);
const COLLECTION_VERBS = new Set(['list', 'watch', 'deletecollection']);

type Rec = Record<string, unknown>;
const isRec = (x: unknown): x is Rec => x !== null && typeof x === 'object' && !Array.isArray(x);
const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((v): v is string => typeof v === 'string') : []);

// ---------- identity ----------

export const saUsername = (ns: string, name: string): string => `system:serviceaccount:${ns}:${name}`;
export const OIDC_PREFIX = 'oidc.airlock.dev/';

/** Builds the identity predicate from whatever string lists the selector has (also used for invalid policies). */
function compileAgents(agents: unknown): { match: (u: UserInfo) => boolean; empty: boolean } {
  const a = isRec(agents) ? agents : {};
  const users = strings(a.users);
  const sas = (Array.isArray(a.serviceAccounts) ? a.serviceAccounts : []).filter(isRec)
    .filter((s) => typeof s.namespace === 'string' && typeof s.name === 'string')
    .map((s) => saUsername(s.namespace as string, s.name as string));
  const userM = compileGlobs([...users, ...sas]);
  const groupM = compileGlobs(strings(a.groups));
  const claims = (Array.isArray(a.claims) ? a.claims : []).filter(isRec)
    .filter((c) => typeof c.claim === 'string' && c.claim !== '')
    .map((c) => ({ key: OIDC_PREFIX + (c.claim as string), m: compileGlobsOrNone(strings(c.values)) }));
  const empty = !userM && !groupM && claims.length === 0;
  const match = (u: UserInfo): boolean => {
    if (userM && userM(u.username)) return true;
    if (groupM) for (const g of u.groups) if (groupM(g)) return true;
    for (const c of claims) {
      const vals = u.extra?.[c.key];
      if (Array.isArray(vals)) for (const v of vals) if (typeof v === 'string' && c.m(v)) return true;
    }
    return false;
  };
  return { match, empty };
}

function compileScope(namespaces: string[] | undefined, exclude: string[] | undefined): (ns: string | undefined) => boolean {
  const inc = compileGlobs(namespaces);
  const exc = compileGlobs(exclude);
  return (ns) => {
    if (ns === undefined || ns === '') return !inc; // cluster-scoped / all namespaces: only unrestricted policies
    if (exc && exc(ns)) return false;
    return !inc || inc(ns);
  };
}

// ---------- rule matching ----------

function labelPredicate(sel: LabelSelector | undefined): LabelPredicate | undefined {
  if (!sel || (!sel.matchLabels && !sel.matchExpressions)) return undefined;
  return compileSelector(sel);
}

function nameOf(req: RequestAttributes): string | undefined {
  if (req.name) return req.name;
  const m = (req.object ?? req.oldObject)?.metadata;
  return isRec(m) && typeof m.name === 'string' && m.name !== '' ? m.name : undefined;
}

/** The parts of a request that static rule checks look at (cacheable per policy). */
export interface StaticKey { verb: string; isResourceRequest: boolean; apiGroup: string; resource: string }
export const staticKeyOf = (r: RequestAttributes): StaticKey => ({
  verb: r.verb, isResourceRequest: r.isResourceRequest, apiGroup: r.apiGroup ?? '', resource: r.subresource ? `${r.resource}/${r.subresource}` : r.resource,
});
export const staticKeyString = (k: StaticKey): string => `${k.isResourceRequest ? 'R' : 'N'}\u0000${k.verb}\u0000${k.apiGroup}\u0000${k.resource}`;

export interface CompiledMatch {
  /** Checks on verb, resource kind and API group only: the same answer for every request with the same StaticKey. */
  staticMatch: (k: StaticKey) => boolean;
  /** The remaining checks (namespaces, names, selectors, via, non-resource paths). */
  dynamicMatch: (req: RequestAttributes) => boolean;
}

/** The object a request is about, for its labels: the one deleted for deletes, else the one that results. */
export function primaryObject(r: RequestAttributes): Record<string, unknown> | undefined {
  return r.verb === 'delete' || r.verb === 'deletecollection' ? r.oldObject ?? r.object : r.object ?? r.oldObject;
}

/**
 * Compiles a rule's match. Unknown facts (labels of an object the caller did not pass, a name or namespace
 * a collection request does not have) make restrictive rules (deny, hold) match and others not: missing
 * information never widens access.
 */
export function compileMatch(m: RuleMatch | undefined, action: Action): CompiledMatch {
  const restrictive = RESTRICTIVE.has(action);
  const st: ((k: StaticKey) => boolean)[] = [];
  const dyn: ((req: RequestAttributes) => boolean)[] = [];
  const verbList = m?.verbs && m.verbs.length ? [...m.verbs] : undefined;
  if (verbList) {
    if (verbList.includes('update') && !verbList.includes('patch')) verbList.push('patch');
    else if (verbList.includes('patch') && !verbList.includes('update')) verbList.push('update');
    const vm = compileGlobs(verbList)!;
    st.push((k) => vm(k.verb));
  }
  if (m?.via && m.via.length) {
    const via = new Set<string>(m.via);
    dyn.push((r) => r.via === 'test' || via.has(r.via));
  }
  const commands = compiledCommands(m?.commands);
  if (commands) {
    // A command pattern speaks of what an exec runs: the rule is about pods/exec, whatever else it says.
    st.push((k) => k.isResourceRequest && k.apiGroup === '' && k.resource === 'pods/exec');
    dyn.push((r) => {
      if (!r.exec || r.exec.command.length === 0) return false;
      const cmd = commandOf(r.exec.command);
      return commands.some((p) => p.matches(cmd));
    });
  }
  const nonRes = compileGlobs(m?.nonResourceURLs);
  const resourceSpecific = !!(m && (m.apiGroups?.length || m.resources?.length || m.namespaces?.length || m.names?.length || m.labelSelector || m.namespaceSelector));
  if (nonRes) {
    st.push((k) => !k.isResourceRequest);
    dyn.push((r) => nonRes(r.path ?? ''));
  } else {
    if (resourceSpecific) st.push((k) => k.isResourceRequest);
    const groups = compileGlobs(m?.apiGroups);
    if (groups) st.push((k) => groups(k.apiGroup));
    const resources = compileGlobs(m?.resources, '[^/]*');
    if (resources) st.push((k) => resources(k.resource));
    const unknownNs = (r: RequestAttributes): boolean => restrictive && COLLECTION_VERBS.has(r.verb);
    const nss = compileGlobs(m?.namespaces);
    if (nss) dyn.push((r) => (r.namespace ? nss(r.namespace) : unknownNs(r)));
    const names = compileGlobs(m?.names);
    if (names) dyn.push((r) => { const n = nameOf(r); return n === undefined ? restrictive : names(n); });
    const lsel = labelPredicate(m?.labelSelector);
    if (lsel) {
      dyn.push((r) => {
        const primary = primaryObject(r);
        const items = primary && Array.isArray(primary.items) ? (primary.items as unknown[]).filter(isRec) : undefined;
        if (items) {
          // A List (e.g. what a deletecollection removes): restrictive rules match if any item matches,
          // others only if every item does.
          if (items.length === 0) return restrictive;
          return restrictive ? items.some((it) => lsel(labelsOf(it) ?? {})) : items.every((it) => lsel(labelsOf(it) ?? {}));
        }
        const labels = labelsOf(primary);
        return labels === undefined ? restrictive : lsel(labels);
      });
    }
    const nsel = labelPredicate(m?.namespaceSelector);
    if (nsel) dyn.push((r) => (!r.namespace ? unknownNs(r) : r.namespaceLabels === undefined ? restrictive : nsel(r.namespaceLabels)));
  }
  const all = <T>(cs: ((x: T) => boolean)[]): ((x: T) => boolean) => {
    if (cs.length === 0) return () => true;
    if (cs.length === 1) return cs[0]!;
    return (x) => { for (const c of cs) if (!c(x)) return false; return true; };
  };
  return { staticMatch: all(st), dynamicMatch: all(dyn) };
}

/** Compiled command patterns (validation reports the ones that do not compile; they never match). */
function compiledCommands(list: readonly string[] | undefined): CommandPattern[] | undefined {
  if (!list?.length) return undefined;
  return list.map((p) => compileCommandPattern(p)).filter((p): p is CommandPattern => 'matches' in p);
}

// ---------- validation helpers ----------

const JSON_POINTER = /^(\/([^~/]|~[01])*)*$/;

function globChecks(list: unknown, path: string, errs: string[]): void {
  if (!Array.isArray(list)) return;
  list.forEach((p, i) => { const e = globError(p); if (e) errs.push(`${path}[${i}]: ${e}`); });
}

function compileRegexes(list: string[] | undefined, path: string, errs: string[]): RegExp[] {
  const out: RegExp[] = [];
  (list ?? []).forEach((p, i) => {
    // A leading (?i) (Go/RE2 style) makes the whole pattern case-insensitive.
    const ci = p.startsWith('(?i)');
    try { out.push(new RegExp(ci ? p.slice(4) : p, ci ? 'i' : '')); } catch (e) { errs.push(`${path}[${i}]: invalid regular expression: ${(e as Error).message}`); }
  });
  return out;
}

function resolveHold(rule: HoldSpec | undefined, defaults: HoldSpec | undefined): ResolvedHold | undefined {
  const approvers = rule?.approvers ?? defaults?.approvers;
  const users = approvers?.users ?? [];
  const groups = approvers?.groups ?? [];
  if (users.length === 0 && groups.length === 0) return undefined;
  return {
    required: rule?.required ?? defaults?.required ?? HOLD_DEFAULTS.required,
    ttl: rule?.ttl ?? defaults?.ttl ?? HOLD_DEFAULTS.ttl,
    mode: rule?.mode ?? defaults?.mode ?? HOLD_DEFAULTS.mode,
    inlineTimeout: rule?.inlineTimeout ?? defaults?.inlineTimeout ?? HOLD_DEFAULTS.inlineTimeout,
    uses: rule?.uses ?? defaults?.uses ?? HOLD_DEFAULTS.uses,
    approvers: { users: [...users], groups: [...groups] },
  };
}

function holdErrors(h: ResolvedHold | undefined, path: string, errs: string[]): void {
  if (!h) { errs.push(`${path}: hold needs approvers (set hold.approvers or spec.approvals.approvers)`); return; }
  if (h.approvers.groups.length === 0 && h.required > new Set(h.approvers.users).size) {
    errs.push(`${path}.required: ${h.required} distinct approvers required but only ${new Set(h.approvers.users).size} listed (no groups): can never be approved`);
  }
}

function patchErrors(patch: JsonPatchOp[], path: string, errs: string[]): void {
  patch.forEach((op, i) => {
    const p = `${path}[${i}]`;
    if (typeof op.path !== 'string' || !JSON_POINTER.test(op.path)) errs.push(`${p}.path: ${JSON.stringify(op.path)} is not a JSON pointer (must start with "/"; escape "~" as ~0 and "/" as ~1)`);
    else if (op.path === '' && op.op !== 'test') errs.push(`${p}.path: patching the whole object is not allowed`);
    else if (/^\/(apiVersion|kind)$|^\/metadata(\/(name|namespace|uid|resourceVersion))?$/.test(op.path) && op.op !== 'test') errs.push(`${p}.path: ${op.path} cannot be changed by a mutate rule`);
    if ((op.op === 'copy' || op.op === 'move') && (typeof op.from !== 'string' || !JSON_POINTER.test(op.from))) errs.push(`${p}.from: ${op.op} needs a JSON pointer "from"`);
    if ((op.op === 'add' || op.op === 'replace' || op.op === 'test') && !('value' in op)) errs.push(`${p}.value: ${op.op} needs a value`);
  });
}

function unconditional(r: Rule): boolean {
  const m = r.match ?? {};
  const any = Object.values(m).some((v) => (Array.isArray(v) ? v.length > 0 : v !== undefined));
  return !any && !(r.detectors?.length) && !r.rego && r.action !== 'audit';
}

// ---------- the compiler ----------

const settingsCache = new Map<string, ResolvedDetectorSettings>();
const SETTINGS_CACHE_MAX = 1024;

/**
 * Detector settings with defaults applied. Equal settings give the same (frozen) object, so decide() can
 * share detector results between policies with the same settings.
 */
export function resolveDetectorSettings(ds: DetectorSettings = {}): ResolvedDetectorSettings {
  const key = JSON.stringify([ds.allowedRegistries ?? null, ds.allowMutableTags ?? null, ds.agentsMayDeleteOwnNamespaces ?? null, ds.protectedNamespaces ?? null, ds.dangerousCapabilities ?? null,
    ds.agentsMayDeleteControlledPods ?? null, ds.serviceAccountBound ?? null]);
  const hit = settingsCache.get(key);
  if (hit) return hit;
  const s = Object.freeze(buildDetectorSettings(ds));
  if (settingsCache.size >= SETTINGS_CACHE_MAX) settingsCache.clear();
  settingsCache.set(key, s);
  return s;
}

function buildDetectorSettings(ds: DetectorSettings): ResolvedDetectorSettings {
  const protectedList = ds.protectedNamespaces ?? DEFAULT_PROTECTED_NAMESPACES;
  return {
    allowedRegistries: (ds.allowedRegistries ?? []).filter((r) => r.trim()).map(normaliseRegistryPrefix),
    allowMutableTags: ds.allowMutableTags ?? false,
    agentsMayDeleteOwnNamespaces: ds.agentsMayDeleteOwnNamespaces ?? false,
    protectedNamespaces: compileGlobsOrNone(protectedList),
    protectedNamespaceList: protectedList,
    dangerousCapabilities: new Set([...BUILTIN_DANGEROUS_CAPABILITIES, ...(ds.dangerousCapabilities ?? []).map(normCap)]),
    agentsMayDeleteControlledPods: ds.agentsMayDeleteControlledPods ?? false,
    serviceAccountBound: Object.freeze(ds.serviceAccountBound ? ds.serviceAccountBound.permissions.map(normalisePermission) : [...DEFAULT_SERVICE_ACCOUNT_BOUND]),
  };
}

/** Checks a rule's (or a budget's) match, naming the field: `path` is where the match is, e.g. spec.rules[2].match. */
export function matchErrors(match: RuleMatch | undefined, path: string, errors: string[], warnings: string[]): void {
  const m = match ?? {};
  (m.verbs ?? []).forEach((v, j) => {
    const e = globError(v);
    if (e) errors.push(`${path}.verbs[${j}]: ${e}`);
    else if (!v.includes('*') && !KNOWN_VERBS.has(v)) warnings.push(`${path}.verbs[${j}]: unknown verb "${v}"`);
  });
  (m.apiGroups ?? []).forEach((g, j) => { const e = g === '' ? undefined : globError(g); if (e) errors.push(`${path}.apiGroups[${j}]: ${e}`); });
  globChecks(m.resources, `${path}.resources`, errors);
  globChecks(m.namespaces, `${path}.namespaces`, errors);
  globChecks(m.names, `${path}.names`, errors);
  (m.nonResourceURLs ?? []).forEach((u, j) => {
    const e = globError(u) ?? (u.startsWith('/') ? undefined : 'must start with "/"');
    if (e) errors.push(`${path}.nonResourceURLs[${j}]: ${e}`);
  });
  if (m.nonResourceURLs?.length && (m.apiGroups?.length || m.resources?.length || m.namespaces?.length || m.names?.length || m.labelSelector || m.namespaceSelector)) {
    errors.push(`${path}.nonResourceURLs: cannot be combined with resource fields (apiGroups, resources, namespaces, names, selectors)`);
  }
  (m.commands ?? []).forEach((c, j) => {
    const compiled = compileCommandPattern(c);
    if ('error' in compiled) errors.push(`${path}.commands[${j}]: ${compiled.error}`);
  });
  if (m.commands?.length) {
    if (m.nonResourceURLs?.length) errors.push(`${path}.commands: cannot be combined with nonResourceURLs`);
    const off = (m.resources ?? []).filter((x) => !/^(?:\*|pods\/\*|pods\/exec|\*\/exec|\*\/\*)$/.test(x));
    if (m.resources?.length && off.length === m.resources.length) errors.push(`${path}.commands: only pods/exec requests carry a command, but match.resources names none (${off.join(', ')})`);
  }
  if (m.labelSelector) errors.push(...selectorErrors(m.labelSelector, `${path}.labelSelector`));
  if (m.namespaceSelector) errors.push(...selectorErrors(m.namespaceSelector, `${path}.namespaceSelector`));
}

/** The longest budget window: counts are kept per request, so a longer one would keep too many. */
const LABEL_KEY = /^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const MAX_BUDGET_WINDOW_MS = 31 * 24 * 3_600_000;

function compileBudgets(policy: string, spec: AgentPolicySpec, errors: string[], warnings: string[]): CompiledBudget[] {
  const out: CompiledBudget[] = [];
  const seen = new Map<string, number>();
  for (const [i, b] of (spec.budgets ?? []).entries()) {
    const path = `spec.budgets[${i}]`;
    if (seen.has(b.name)) errors.push(`${path}.name: duplicate budget name "${b.name}" (also spec.budgets[${seen.get(b.name)}])`);
    seen.set(b.name, i);
    matchErrors(b.match, `${path}.match`, errors, warnings);
    const windowMs = parseDurationMs(b.window, NaN);
    if (!(windowMs >= 1000 && windowMs <= MAX_BUDGET_WINDOW_MS)) errors.push(`${path}.window: ${JSON.stringify(b.window)} must be a duration from 1s to 744h`);
    const onExhausted = b.onExhausted ?? 'hold';
    let hold: ResolvedHold | undefined;
    if (onExhausted === 'hold') { hold = resolveHold(b.hold, spec.approvals); holdErrors(hold, `${path}.hold`, errors); }
    else if (b.hold) errors.push(`${path}.hold: only allowed for onExhausted hold`);
    if (b.grant !== undefined && onExhausted !== 'hold') errors.push(`${path}.grant: only allowed for onExhausted hold`);
    if (b.per?.namespace && b.per.label !== undefined) errors.push(`${path}.per: names a namespace or a label, not both`);
    if (b.per?.label !== undefined && !LABEL_KEY.test(b.per.label)) errors.push(`${path}.per.label: ${JSON.stringify(b.per.label)} is not a label key (an optional DNS prefix and "/", then up to 63 of A-Z a-z 0-9 - _ .)`);
    out.push({
      ...compileMatch(b.match, 'deny'), policy, name: b.name, limit: b.limit, window: b.window, windowMs,
      per: { namespace: b.per?.namespace === true, ...(b.per?.label !== undefined ? { label: b.per.label } : {}) },
      onExhausted, ...(hold ? { hold } : {}), grant: b.grant ?? 1, ...(b.message !== undefined ? { message: b.message } : {}),
    });
  }
  return out;
}

function resolveRateLimits(r: RateLimitSpec): ResolvedRateLimits {
  const bucket = (b: RateLimitSpec['read']): ResolvedBucket | undefined => (b ? { qps: b.qps, burst: b.burst ?? Math.max(1, Math.ceil(b.qps)) } : undefined);
  const read = bucket(r.read);
  const write = bucket(r.write);
  const connect = bucket(r.connect);
  return { ...(read ? { read } : {}), ...(write ? { write } : {}), ...(connect ? { connect } : {}), ...(r.maxInFlight ? { maxInFlight: r.maxInFlight } : {}), priority: r.priority ?? 'reads' };
}

export interface CompileOptions { loadConfigMap?: ConfigMapLoader }

export async function compilePolicy(policy: AgentPolicy, opts: CompileOptions = {}): Promise<{ compiled?: CompiledPolicy; result: CompileResult }> {
  const errors: string[] = [];
  const warnings: string[] = [];
  const meta = isRec(policy) && isRec(policy.metadata) ? policy.metadata : undefined;
  const name = typeof meta?.name === 'string' ? meta.name : '';
  if (!name) return { result: { ok: false, errors: ['metadata.name: is required'], warnings } };
  if (isRec(policy) && policy.kind !== undefined && policy.kind !== 'AgentPolicy') errors.push(`kind: must be AgentPolicy, not ${JSON.stringify(policy.kind)}`);

  const schema = validateObject('AgentPolicy', policy);
  errors.push(...schema.errors);
  const specRaw = isRec(policy) && isRec(policy.spec) ? policy.spec : undefined;
  const agents = compileAgents(specRaw?.agents);
  if (!schema.valid || !specRaw) {
    return { compiled: failClosed(name, agents.match, errors), result: { ok: false, errors, warnings } };
  }
  const spec = policy.spec;

  // agents
  if (agents.empty) errors.push('spec.agents: must name at least one of users, groups, serviceAccounts or claims');
  globChecks(spec.agents.users, 'spec.agents.users', errors);
  globChecks(spec.agents.groups, 'spec.agents.groups', errors);
  (spec.agents.serviceAccounts ?? []).forEach((s, i) => {
    for (const f of ['namespace', 'name'] as const) { const e = globError(s[f]); if (e) errors.push(`spec.agents.serviceAccounts[${i}].${f}: ${e}`); }
  });
  (spec.agents.claims ?? []).forEach((c, i) => globChecks(c.values, `spec.agents.claims[${i}].values`, errors));
  if ((spec.agents.users ?? []).includes('*') || (spec.agents.groups ?? []).includes('*')) warnings.push('spec.agents: "*" makes every identity (including controllers and humans) an agent of this policy');
  globChecks(spec.namespaces, 'spec.namespaces', errors);
  globChecks(spec.excludeNamespaces, 'spec.excludeNamespaces', errors);

  // detector settings
  const ds = spec.detectorSettings ?? {};
  (ds.allowedRegistries ?? []).forEach((r, i) => { if (!r.trim()) errors.push(`spec.detectorSettings.allowedRegistries[${i}]: must not be empty`); });
  globChecks(ds.protectedNamespaces, 'spec.detectorSettings.protectedNamespaces', errors);
  const settings = resolveDetectorSettings(ds);

  // masking
  const mk = spec.masking ?? {};
  const masking: ResolvedMasking = {
    secrets: mk.secrets ?? true,
    configMaps: mk.configMaps ?? true,
    logs: mk.logs ?? true,
    envNamePatterns: compileRegexes(mk.envNamePatterns, 'spec.masking.envNamePatterns', errors),
    patterns: compileRegexes(mk.patterns, 'spec.masking.patterns', errors),
  };

  // rules
  const rules: CompiledRule[] = [];
  const seen = new Map<string, number>();
  let unreachableFrom: string | undefined;
  for (const [i, r] of (spec.rules ?? []).entries()) {
    const path = `spec.rules[${i}]`;
    if (seen.has(r.name)) errors.push(`${path}.name: duplicate rule name "${r.name}" (also spec.rules[${seen.get(r.name)}])`);
    seen.set(r.name, i);
    if (unreachableFrom) warnings.push(`${path}: unreachable: rule "${unreachableFrom}" before it matches every request`);
    matchErrors(r.match, `${path}.match`, errors, warnings);
    const detectors: CompiledRule['detectors'] = [];
    (r.detectors ?? []).forEach((d, j) => {
      const fn = Object.hasOwn(DETECTORS, d) ? DETECTORS[d] : undefined;
      if (fn) detectors.push({ name: d, fn });
      else { const s = suggest(d, Object.keys(DETECTORS)); errors.push(`${path}.detectors[${j}]: unknown detector "${d}"${s ? ` (did you mean "${s}"?)` : ''}`); }
    });
    let rego: RegoEvaluator | undefined;
    if (r.rego) {
      try { rego = await RegoEvaluator.load(r.rego, opts.loadConfigMap); } catch (e) {
        errors.push(`${path}.rego: ${e instanceof RegoError ? e.message : `cannot load: ${(e as Error).message ?? String(e)}`}`);
      }
    }
    let hold: ResolvedHold | undefined;
    if (r.action === 'hold') { hold = resolveHold(r.hold, spec.approvals); holdErrors(hold, `${path}.hold`, errors); }
    else if (r.hold) errors.push(`${path}.hold: only allowed for action hold`);
    if (r.action === 'mutate') {
      if (!r.mutate) errors.push(`${path}.mutate: required for action mutate`);
      else if (r.mutate.patch.length === 0) errors.push(`${path}.mutate.patch: must not be empty`);
      else patchErrors(r.mutate.patch, `${path}.mutate.patch`, errors);
    } else if (r.mutate) errors.push(`${path}.mutate: only allowed for action mutate`);
    const cm = compileMatch(r.match, r.action);
    const relevance = detectors.map((d) => DETECTOR_RELEVANCE[d.name]);
    const detectorsMayFire = relevance.length === 0 || relevance.some((f) => !f)
      ? () => true
      : (k: StaticKey) => relevance.some((f) => f!(k));
    rules.push({
      name: r.name, index: i, action: r.action, ...(r.message !== undefined ? { message: r.message } : {}),
      staticMatch: (k) => cm.staticMatch(k) && detectorsMayFire(k), dynamicMatch: cm.dynamicMatch, detectors, ...(rego ? { rego } : {}), ...(hold ? { hold } : {}),
      ...(r.rego?.configMapRef ? { regoConfigMap: { namespace: r.rego.configMapRef.namespace, name: r.rego.configMapRef.name } } : {}),
      ...(r.mutate ? { patch: r.mutate.patch } : {}),
    });
    if (!unreachableFrom && unconditional(r)) unreachableFrom = r.name;
  }
  const defaultAction = spec.defaultAction ?? 'deny';
  let defaultHold: ResolvedHold | undefined;
  if (defaultAction === 'hold') { defaultHold = resolveHold(undefined, spec.approvals); holdErrors(defaultHold, 'spec.approvals', errors); }
  if (defaultAction === 'allow') warnings.push('spec.defaultAction: allow lets agents do anything no rule denies; prefer deny with an allow-list');

  const budgets = compileBudgets(name, spec, errors, warnings);
  const rateLimits = spec.rateLimits ? resolveRateLimits(spec.rateLimits) : undefined;

  if (errors.length) return { compiled: failClosed(name, agents.match, errors), result: { ok: false, errors, warnings } };
  return {
    compiled: {
      name, valid: true, errors: [], selectsUser: agents.match, governs: compileScope(spec.namespaces, spec.excludeNamespaces),
      rules, defaultAction, ...(defaultHold ? { defaultHold } : {}), settings, masking,
      recording: { enabled: spec.recording?.enabled ?? true, bodies: spec.recording?.bodies ?? false, readFailurePolicy: spec.recording?.readFailurePolicy ?? 'Fail' },
      failurePolicy: spec.failurePolicy ?? 'deny',
      candidateCache: new Map(),
      budgets,
      budgetCache: new Map(),
      ...(rateLimits ? { rateLimits } : {}),
    },
    result: { ok: true, errors: [], warnings },
  };
}

/** The fail-closed form of an invalid policy: it governs every request of the identities it names, and denies. */
function failClosed(name: string, selectsUser: (u: UserInfo) => boolean, errors: string[]): CompiledPolicy {
  return {
    name, valid: false, errors: [...errors], selectsUser, governs: () => true, rules: [], defaultAction: 'deny',
    settings: resolveDetectorSettings(),
    masking: { secrets: true, configMaps: true, logs: true, envNamePatterns: [], patterns: [] },
    recording: { enabled: true, bodies: false, readFailurePolicy: 'Fail' },
    failurePolicy: 'deny',
    candidateCache: new Map(),
    budgets: [],
    budgetCache: new Map(),
  };
}

export type { Matcher };
