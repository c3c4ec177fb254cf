// The ValidatingWebhookConfiguration: built from the active AgentPolicies (every resource their rules can
// act on at admission time, and only for the identities they name) plus the Approval guard, and kept in
// sync (server-side apply) with the CA.
import type { AgentPolicy, Rule } from '../api/types.js';
import type { KubeClient } from '../k8s/client.js';
import { errorField, silentLogger, type Logger } from '../log.js';
import { OIDC_PREFIX, saUsername } from '../policy/compile.js';

export const WEBHOOK_FIELD_MANAGER = 'airlock-operator';

export interface WebhookConfigOptions {
  /** Name of the ValidatingWebhookConfiguration (default airlock). */
  name?: string;
  /** PEM CA bundle the API server uses to verify the webhook's serving certificate. */
  caBundle: string;
  /** Local mode: the webhook's URL (https://127.0.0.1:port); `/validate` is appended when no path is given. */
  url?: string;
  /** In-cluster mode: the Service in front of the webhook. */
  service?: { namespace: string; name: string; port?: number };
  /** The operator's namespace (always exempt, like kube-system). */
  operatorNamespace: string;
  exemptNamespaces?: string[];
  /** Extra namespaceSelector requirements (e.g. only namespaces labelled for a test). */
  namespaceSelector?: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
  /** objectSelector for the Approval guard (default: every Approval). */
  approvalObjectSelector?: { matchLabels?: Record<string, string> };
  failurePolicy?: 'Fail' | 'Ignore';
  /**
   * Identities the API server does not send to the webhook at all (matchConditions): Airlock's own
   * controller identity, so that with failurePolicy Fail a stopped webhook can never lock the operator out
   * of installing its CRDs or re-registering the webhook (the webhook also admits them without judging).
   */
  exemptUsers?: string[];
  exemptGroups?: string[];
  /** 1..30 seconds (default 10). */
  timeoutSeconds?: number;
}

export interface AdmissionRule {
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  operations: string[];
  scope: '*';
}

const READ_VERBS = new Set(['get', 'list', 'watch']);

/** Admission operations a rule's verbs can produce (reads never reach admission). */
export function operationsFor(verbs: string[] | undefined, resources: string[]): string[] {
  const ops = new Set<string>();
  const connectish = resources.some((r) => /\/(exec|attach|portforward|proxy)$/.test(r) || r === '*/*' || r.endsWith('/*'));
  for (const v of verbs?.length ? verbs : ['*']) {
    if (v === '*') return ['*'];
    if (READ_VERBS.has(v)) continue;
    if (v === 'create') { ops.add('CREATE'); if (connectish) ops.add('CONNECT'); }
    else if (v === 'update' || v === 'patch') ops.add('UPDATE');
    else if (v === 'delete' || v === 'deletecollection') ops.add('DELETE');
    else if (v === 'proxy' || v === 'connect') ops.add('CONNECT');
    else ops.add('*'); // custom verbs: be broad
  }
  return ops.has('*') ? ['*'] : [...ops].sort();
}

function rulesOf(policy: AgentPolicy): AdmissionRule[] {
  const out: AdmissionRule[] = [];
  const broad = (): AdmissionRule => ({ apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'], operations: ['*'], scope: '*' });
  // A default action other than allow means every write by the policy's agents must be seen.
  if ((policy.spec.defaultAction ?? 'deny') !== 'allow') return [broad()];
  for (const r of policy.spec.rules ?? []) {
    if (r.action === 'allow') continue;
    const rule = ruleFor(r);
    if (rule) out.push(rule);
  }
  return out;
}

function ruleFor(r: Rule): AdmissionRule | undefined {
  const m = r.match ?? {};
  const resources = m.resources?.length ? m.resources : ['*/*'];
  const ops = operationsFor(m.verbs, resources);
  if (!ops.length) return undefined; // read-only rule: reads never reach admission
  return {
    apiGroups: m.apiGroups?.length ? [...m.apiGroups] : ['*'],
    apiVersions: ['*'],
    resources: [...resources],
    operations: ops,
    scope: '*',
  };
}

/** Merges rules that only differ in one list, drops exact duplicates, and collapses to `*` when any is broad. */
export function deriveRules(policies: readonly AgentPolicy[]): AdmissionRule[] {
  const all = policies.flatMap(rulesOf);
  if (all.some((r) => r.apiGroups.includes('*') && r.resources.includes('*/*') && r.operations.includes('*'))) {
    return [{ apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'], operations: ['*'], scope: '*' }];
  }
  const byKey = new Map<string, AdmissionRule>();
  for (const r of all) {
    const key = JSON.stringify([r.apiGroups.slice().sort(), r.operations]);
    const prev = byKey.get(key);
    if (prev) prev.resources = [...new Set([...prev.resources, ...r.resources])].sort();
    else byKey.set(key, { ...r, apiGroups: r.apiGroups.slice().sort(), resources: [...new Set(r.resources)].sort() });
  }
  // The API server rejects '*/*' beside other resources ('*/*' already means every resource and subresource).
  for (const r of byKey.values()) if (r.resources.includes('*/*')) r.resources = ['*/*'];
  return [...byKey.values()];
}

// ---------- which identities the policy webhook is sent (matchConditions) ----------

/**
 * A CEL string literal that stands for exactly `s`. Only printable ASCII other than `"` and `\` is written
 * as itself; everything else is a \u/\U escape, so no name a policy author writes can end the literal or
 * inject CEL. Lone UTF-16 surrogates (not representable in CEL, and never in a name the API server
 * authenticates) must not reach here: callers treat them as wildcards (see globParts).
 */
export function celString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) throw new Error('celString: lone surrogate');
    if (cp >= 0x20 && cp <= 0x7e && ch !== '"' && ch !== '\\') out += ch;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

/** A CEL list literal of strings. */
const celList = (items: readonly string[]): string => `[${items.map(celString).join(', ')}]`;

/**
 * Every identity some AgentPolicy makes an agent, as the API server's CEL can test it: exact names, and
 * (prefix, suffix) pairs for globs. A glob `a*b*c` is sent as "starts with a and ends with c", which is a
 * superset of what it matches (send more, never less); the webhook's engine then decides exactly.
 */
export interface NamedAgents {
  /** Some policy names every identity (e.g. users: ["*"]): no identity condition at all. */
  everyone: boolean;
  users: string[];
  userGlobs: [string, string][];
  groups: string[];
  groupGlobs: [string, string][];
  /** user extra keys (oidc.airlock.dev/<claim>): any request carrying one is sent, whatever its values. */
  extraKeys: string[];
  extraKeyGlobs: [string, string][];
}

const isRec = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
const strs = (x: unknown): string[] => (Array.isArray(x) ? x.filter((v): v is string => typeof v === 'string') : []);

/**
 * Wildcards as the engine sees them (`*`), plus characters whose comparison in CEL could differ from the
 * engine's: U+FFFD (the API server's JSON turns invalid UTF-8 in a name into it, while CEL compares the raw
 * bytes) and lone surrogates. Each is widened like a `*`.
 */
const WILD = /[*\ufffd\ud800-\udfff]/u; // in u-mode the surrogate range matches lone surrogates only
const WILD_G = /[*\ufffd\ud800-\udfff]/gu;

/** undefined: an exact name; else the literal text before the first and after the last wildcard. */
export function globParts(p: string): [string, string] | undefined {
  if (!WILD.test(p)) return undefined;
  const pieces = p.split(WILD_G);
  return [pieces[0]!, pieces[pieces.length - 1]!];
}

/**
 * Reads spec.agents of every policy the way the engine's compileAgents does (src/policy/compile.ts: users,
 * serviceAccounts as system:serviceaccount:NS:NAME, groups, claims), for valid and invalid policies alike:
 * an invalid policy's agents are denied everything, so they must be sent too.
 */
export function namedAgents(policies: readonly AgentPolicy[]): NamedAgents {
  const users = new Set<string>();
  const groups = new Set<string>();
  const userGlobs = new Map<string, [string, string]>();
  const groupGlobs = new Map<string, [string, string]>();
  const extraKeys = new Set<string>();
  const extraKeyGlobs = new Map<string, [string, string]>();
  let everyone = false;
  const add = (name: string, exact: Set<string>, globs: Map<string, [string, string]>): void => {
    const g = globParts(name);
    if (!g) return void exact.add(name);
    if (g[0] === '' && g[1] === '') everyone = true;
    globs.set(JSON.stringify(g), g);
  };
  for (const p of policies) {
    const a = isRec(p?.spec) && isRec(p.spec.agents) ? (p.spec.agents as Record<string, unknown>) : {};
    for (const u of strs(a.users)) add(u, users, userGlobs);
    for (const s of Array.isArray(a.serviceAccounts) ? a.serviceAccounts : []) {
      if (isRec(s) && typeof s.namespace === 'string' && typeof s.name === 'string') add(saUsername(s.namespace, s.name), users, userGlobs);
    }
    for (const g of strs(a.groups)) add(g, groups, groupGlobs);
    for (const c of Array.isArray(a.claims) ? a.claims : []) {
      // A `*` in a claim name is literal to the engine; as a wildcard here it only widens.
      if (isRec(c) && typeof c.claim === 'string' && c.claim !== '') add(OIDC_PREFIX + c.claim, extraKeys, extraKeyGlobs);
    }
  }
  const sortGlobs = (m: Map<string, [string, string]>): [string, string][] => [...m.keys()].sort().map((k) => m.get(k)!);
  return {
    everyone,
    users: [...users].sort(),
    userGlobs: sortGlobs(userGlobs),
    groups: [...groups].sort(),
    groupGlobs: sortGlobs(groupGlobs),
    extraKeys: [...extraKeys].sort(),
    extraKeyGlobs: sortGlobs(extraKeyGlobs),
  };
}

/** The CEL parser refuses expressions over 100,000 code points; stay well below it. */
export const MAX_AGENT_CONDITION_CODE_POINTS = 60_000;
export const AGENT_CONDITION_NAME = 'airlock-named-agent';

/**
 * The one matchCondition that sends the policy webhook only requests from identities a policy names.
 * Returns undefined when every identity must be sent (some policy names everyone, or the names do not fit
 * in one expression: then the webhook sees every request, as without this condition, and decides itself).
 * Membership tests against constant lists are set lookups in the API server (CEL's OptOptimize), so the
 * cost grows with the request's groups, not with the number of names.
 */
export function agentCondition(a: NamedAgents): { name: string; expression: string } | undefined {
  if (a.everyone) return undefined;
  const pairs = (globs: [string, string][]): string => `[${globs.map(([pre, suf]) => `[${celString(pre)}, ${celString(suf)}]`).join(', ')}]`;
  const globTest = (v: string, globs: [string, string][]): string => `${pairs(globs)}.exists(p, ${v}.startsWith(p[0]) && ${v}.endsWith(p[1]))`;
  const u = 'request.userInfo.username';
  // An empty username is never an authenticated user; the webhook denies it, so it is sent too.
  const parts = [`${u} == ""`];
  if (a.users.length) parts.push(`${u} in ${celList(a.users)}`);
  if (a.userGlobs.length) parts.push(globTest(u, a.userGlobs));
  const g: string[] = [];
  if (a.groups.length) g.push(`g in ${celList(a.groups)}`);
  if (a.groupGlobs.length) g.push(globTest('g', a.groupGlobs));
  if (g.length) parts.push(`(has(request.userInfo.groups) && request.userInfo.groups.exists(g, ${g.join(' || ')}))`);
  const x: string[] = [];
  if (a.extraKeys.length) x.push(`k in ${celList(a.extraKeys)}`);
  if (a.extraKeyGlobs.length) x.push(globTest('k', a.extraKeyGlobs));
  if (x.length) parts.push(`(has(request.userInfo.extra) && request.userInfo.extra.exists(k, ${x.join(' || ')}))`);
  const expression = parts.join(' || ');
  if ([...expression].length > MAX_AGENT_CONDITION_CODE_POINTS) return undefined;
  return { name: AGENT_CONDITION_NAME, expression };
}

export function buildWebhookConfiguration(opts: WebhookConfigOptions, policies: readonly AgentPolicy[]): Record<string, unknown> {
  const timeoutSeconds = opts.timeoutSeconds ?? 10;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 30) throw new Error(`timeoutSeconds must be an integer in 1..30, got ${timeoutSeconds}`);
  if (!opts.url === !opts.service) throw new Error('webhook clientConfig needs exactly one of url (local mode) or service (in cluster)');
  const caBundle = Buffer.from(opts.caBundle, 'utf8').toString('base64');
  let clientConfig: Record<string, unknown>;
  if (opts.url) {
    const u = new URL(opts.url);
    if (u.protocol !== 'https:') throw new Error('webhook url must be https');
    if (u.pathname === '/' || u.pathname === '') u.pathname = '/validate';
    clientConfig = { url: u.toString(), caBundle };
  } else {
    clientConfig = { service: { namespace: opts.service!.namespace, name: opts.service!.name, path: '/validate', port: opts.service!.port ?? 443 }, caBundle };
  }
  const selectorFor = (exempt: string[]): Record<string, unknown> => ({
    ...(opts.namespaceSelector?.matchLabels ? { matchLabels: opts.namespaceSelector.matchLabels } : {}),
    matchExpressions: [
      ...(exempt.length ? [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...new Set(exempt)].sort() }] : []),
      ...(opts.namespaceSelector?.matchExpressions ?? []),
    ],
  });
  const exemptUsers = [...new Set(opts.exemptUsers ?? [])].sort();
  const exemptGroups = [...new Set(opts.exemptGroups ?? [])].sort();
  const matchConditions = [
    ...(exemptUsers.length ? [{ name: 'not-airlock-controller-user', expression: `!(request.userInfo.username in ${celList(exemptUsers)})` }] : []),
    ...(exemptGroups.length
      ? [{ name: 'not-airlock-controller-group', expression: `!(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in ${celList(exemptGroups)}))` }]
      : []),
  ];
  const common = {
    clientConfig,
    admissionReviewVersions: ['v1', 'v1beta1'],
    sideEffects: 'NoneOnDryRun',
    timeoutSeconds,
    matchPolicy: 'Equivalent',
    failurePolicy: opts.failurePolicy ?? 'Fail',
  };
  const webhooks: Record<string, unknown>[] = [];
  const rules = deriveRules(policies);
  // Only agents depend on Airlock: the policy webhook is sent requests from the identities some policy
  // names (however they arrive: impersonated by the proxy or with the agent's own credentials), so a
  // stopped webhook never blocks people or controllers no policy governs.
  const agents = namedAgents(policies);
  const namesSomeone = agents.everyone || [agents.users, agents.userGlobs, agents.groups, agents.groupGlobs, agents.extraKeys, agents.extraKeyGlobs].some((l) => l.length > 0);
  const agentOnly = agentCondition(agents);
  const policyConditions = [...matchConditions, ...(agentOnly ? [agentOnly] : [])];
  // Exempting the operator's namespace and kube-system keeps a stopped webhook from blocking the cluster's
  // own controllers. When only named agents are sent, those controllers are not sent anyway, and exempting
  // the namespaces would let an agent write there with its own credentials unjudged: they are judged.
  const systemNamespaces = [opts.operatorNamespace, 'kube-system'];
  const exempt = agentOnly
    ? (opts.exemptNamespaces ?? []).filter((n) => !systemNamespaces.includes(n))
    : [...systemNamespaces, ...(opts.exemptNamespaces ?? [])];
  if (rules.length && namesSomeone) {
    webhooks.push({ name: 'policy.webhook.airlock.dev', ...(policyConditions.length ? { matchConditions: policyConditions } : {}), ...common, rules, namespaceSelector: selectorFor(exempt) });
  }
  // The Approval guard keeps seeing everyone but Airlock itself: approvers are people, and forged or
  // self-approved sign-offs must be refused whoever writes them.
  webhooks.push({
    name: 'approvals.webhook.airlock.dev',
    ...(matchConditions.length ? { matchConditions } : {}),
    ...common,
    rules: [
      { apiGroups: ['airlock.dev'], apiVersions: ['*'], resources: ['approvals/status'], operations: ['UPDATE'], scope: '*' },
      { apiGroups: ['airlock.dev'], apiVersions: ['*'], resources: ['approvals'], operations: ['CREATE'], scope: '*' },
    ],
    ...(opts.approvalObjectSelector ? { objectSelector: opts.approvalObjectSelector } : {}),
  });
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: opts.name ?? 'airlock', labels: { 'app.kubernetes.io/name': 'airlock', 'app.kubernetes.io/managed-by': 'airlock' } },
    webhooks,
  };
}

const path = (name: string): string => `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${encodeURIComponent(name)}`;

/** Creates or updates the configuration with server-side apply (idempotent: an unchanged apply is a no-op). */
export async function applyWebhookConfiguration(client: KubeClient, opts: WebhookConfigOptions, policies: readonly AgentPolicy[]): Promise<Record<string, unknown>> {
  const cfg = buildWebhookConfiguration(opts, policies);
  return client.apply(path(opts.name ?? 'airlock'), cfg, WEBHOOK_FIELD_MANAGER);
}

export async function deleteWebhookConfiguration(client: KubeClient, name = 'airlock'): Promise<void> {
  await client.delete(path(name)).catch((err: unknown) => {
    if ((err as { status?: number }).status !== 404) throw err;
  });
}

export interface SyncerSettings {
  /** Coalesce changes arriving within this window into one apply (default 200 ms). */
  debounceMs?: number;
  /** Re-apply even without changes at this interval, restoring a deleted or hand-edited configuration (default 60 s; 0: never). */
  resyncMs?: number;
  /** Where failed background applies are logged (flush() itself rejects). */
  log?: Logger;
}

/**
 * Keeps the configuration in sync with the active policies and the current CA bundle: every change
 * schedules one server-side apply (debounced); an unchanged configuration is re-applied only on resync.
 */
export class WebhookConfigSyncer {
  private policies: AgentPolicy[] = [];
  private caBundle: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private resync: NodeJS.Timeout | undefined;
  private lastApplied: string | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly debounceMs: number;
  private readonly logFailure: (err: unknown) => void;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: Omit<WebhookConfigOptions, 'caBundle'>,
    settings: SyncerSettings = {},
  ) {
    this.debounceMs = settings.debounceMs ?? 200;
    const log = settings.log ?? silentLogger;
    this.logFailure = (err) => log.warn('webhook configuration sync failed', { error: errorField(err) });
    const every = settings.resyncMs ?? 60_000;
    if (every > 0) {
      this.resync = setInterval(() => {
        this.lastApplied = undefined;
        void this.flush().catch(this.logFailure);
      }, every);
      this.resync.unref();
    }
  }

  setPolicies(policies: readonly AgentPolicy[]): void {
    this.policies = [...policies];
    this.schedule();
  }

  setCaBundle(caBundle: string): void {
    this.caBundle = caBundle;
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush().catch(this.logFailure), this.debounceMs);
    this.timer.unref();
  }

  /** Applies now (after any apply in flight) if the desired configuration changed; rejects on API errors. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    const run = async (): Promise<void> => {
      if (this.caBundle === undefined) return;
      const opts = { ...this.opts, caBundle: this.caBundle };
      const desired = JSON.stringify(buildWebhookConfiguration(opts, this.policies));
      if (desired === this.lastApplied) return;
      await applyWebhookConfiguration(this.client, opts, this.policies);
      this.lastApplied = desired;
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.resync);
  }
}
