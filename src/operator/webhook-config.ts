// The ValidatingWebhookConfiguration: built from the active AgentPolicies (every resource their rules can
// act on at admission time) plus the Approval guard, and kept in sync (server-side apply) with the CA.
import type { AgentPolicy, Rule } from '../api/types.js';
import type { KubeClient } from '../k8s/client.js';

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

/** A CEL list literal of strings (JSON string literals are valid CEL string literals). */
const celList = (items: string[]): string => `[${items.map((i) => JSON.stringify(i)).join(', ')}]`;

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
  const exempt = [...new Set([opts.operatorNamespace, 'kube-system', ...(opts.exemptNamespaces ?? [])])].sort();
  const namespaceSelector = {
    ...(opts.namespaceSelector?.matchLabels ? { matchLabels: opts.namespaceSelector.matchLabels } : {}),
    matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: exempt }, ...(opts.namespaceSelector?.matchExpressions ?? [])],
  };
  const exemptUsers = [...new Set(opts.exemptUsers ?? [])].sort();
  const exemptGroups = [...new Set(opts.exemptGroups ?? [])].sort();
  const matchConditions = [
    ...(exemptUsers.length ? [{ name: 'not-airlock-controller-user', expression: `!(request.userInfo.username in ${celList(exemptUsers)})` }] : []),
    ...(exemptGroups.length
      ? [{ name: 'not-airlock-controller-group', expression: `!(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in ${celList(exemptGroups)}))` }]
      : []),
  ];
  const common = {
    ...(matchConditions.length ? { matchConditions } : {}),
    clientConfig,
    admissionReviewVersions: ['v1', 'v1beta1'],
    sideEffects: 'NoneOnDryRun',
    timeoutSeconds,
    matchPolicy: 'Equivalent',
    failurePolicy: opts.failurePolicy ?? 'Fail',
  };
  const webhooks: Record<string, unknown>[] = [];
  const rules = deriveRules(policies);
  if (rules.length) webhooks.push({ name: 'policy.webhook.airlock.dev', ...common, rules, namespaceSelector });
  webhooks.push({
    name: 'approvals.webhook.airlock.dev',
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
  onError?: (err: unknown) => void;
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
  private readonly onError: (err: unknown) => void;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: Omit<WebhookConfigOptions, 'caBundle'>,
    settings: SyncerSettings = {},
  ) {
    this.debounceMs = settings.debounceMs ?? 200;
    this.onError = settings.onError ?? (() => undefined);
    const every = settings.resyncMs ?? 60_000;
    if (every > 0) {
      this.resync = setInterval(() => {
        this.lastApplied = undefined;
        void this.flush().catch(this.onError);
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
    this.timer = setTimeout(() => void this.flush().catch(this.onError), this.debounceMs);
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
