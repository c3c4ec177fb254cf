// TypeScript types for Airlock's API (group airlock.dev, version v1alpha1). The JSON Schemas in
// schemas.ts describe the same shapes; crds/*.yaml are generated from those schemas (src/api/generate.ts).

export const GROUP = 'airlock.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

// ---------- AgentPolicy ----------

export type Action = 'allow' | 'deny' | 'hold' | 'mutate' | 'audit';

/** Who counts as an agent for this policy. An identity matches when any listed selector matches. */
export interface AgentSelector {
  /** Usernames; `*` globs allowed (e.g. `agent-*`). */
  users?: string[];
  /** Group names; globs allowed. */
  groups?: string[];
  /** ServiceAccounts (namespace and name, globs allowed). */
  serviceAccounts?: { namespace: string; name: string }[];
  /** OIDC claims (exposed by the proxy as user extra `oidc.airlock.dev/<claim>`). */
  claims?: { claim: string; values: string[] }[];
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface RuleMatch {
  /** Kubernetes verbs (get, list, watch, create, update, patch, delete, deletecollection, and `*`). */
  verbs?: string[];
  /** API groups ("" is core); `*` for all. */
  apiGroups?: string[];
  /** Resources, with subresources as `pods/exec`; `*`, `*\/status`, `pods/*` allowed. */
  resources?: string[];
  /** Namespace globs; a rule with namespaces never matches cluster-scoped requests. */
  namespaces?: string[];
  /** Object names; globs allowed. */
  names?: string[];
  /** Selects on the object's labels (new object, or the old one for delete). */
  labelSelector?: LabelSelector;
  /** Selects on the labels of the request's namespace (when known to the caller). */
  namespaceSelector?: LabelSelector;
  /** Restrict the rule to requests arriving via the proxy or the webhook. */
  via?: ('proxy' | 'webhook')[];
  /** Non-resource paths (globs, e.g. `/metrics`, `/logs/*`); a rule with these matches only non-resource requests. */
  nonResourceURLs?: string[];
  /**
   * Command patterns (docs/exec-commands.md), e.g. `cat /app/config/*`, `ls ...`; a rule with these matches
   * only `pods/exec` requests whose argv matches one of them.
   */
  commands?: string[];
}

export interface HoldSpec {
  approvers?: { users?: string[]; groups?: string[] };
  /** Distinct approvers needed (N of M). */
  required?: number;
  /** How long the Approval stays valid (Go duration such as 30m, 1h, 24h). */
  ttl?: string;
  /** proxy only: wait inline for a decision (`inline`) or answer at once with the Approval (`async`). */
  mode?: 'inline' | 'async';
  /** inline mode: how long the proxy waits before answering with the Approval name. */
  inlineTimeout?: string;
  /** How many admissions one approval allows (default 1: one-shot). */
  uses?: number;
}

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'copy' | 'move' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

export interface RegoRef {
  /** Entry point in the compiled bundle, e.g. `airlock/deny`. The result is a list of messages (deny if non-empty) or a boolean. */
  entrypoint: string;
  /** Inline base64 of the compiled policy.wasm. */
  wasmBase64?: string;
  /** Or a ConfigMap holding policy.wasm under binaryData. */
  configMapRef?: { namespace: string; name: string; key?: string };
  /** Memory cap in MiB for the wasm instance (default 32). */
  memoryLimitMiB?: number;
  /** Time budget in milliseconds for one evaluation (default 100, at most 1000); over it the rule fails closed. */
  timeoutMilliseconds?: number;
}

export interface Rule {
  name: string;
  match?: RuleMatch;
  /** Built-in detectors; when set the rule applies only if at least one detector fires. */
  detectors?: string[];
  /** Rego condition; the rule applies only if the Rego policy reports a violation. */
  rego?: RegoRef;
  action: Action;
  message?: string;
  hold?: HoldSpec;
  mutate?: { patch: JsonPatchOp[] };
}

export interface DetectorSettings {
  /** Registries (prefixes such as `registry.example.com/`) images must come from; empty: any. */
  allowedRegistries?: string[];
  /** Whether tags other than digests are acceptable (default false: `:latest` and untagged flagged). */
  allowMutableTags?: boolean;
  /**
   * Let agents delete namespaces they created themselves (annotation airlock.dev/agent, stamped by the proxy
   * on create, equals the requester): cleaning up after itself is not destructive to others. Default false.
   */
  agentsMayDeleteOwnNamespaces?: boolean;
  /** Namespaces Airlock protects (its own); default [airlock-system]. */
  protectedNamespaces?: string[];
  /** Extra capabilities considered dangerous besides the built-in list. */
  dangerousCapabilities?: string[];
  /**
   * `deleteOthersObjects` treats deleting a Pod that has a controller ownerReference as a restart (its
   * controller recreates it) and does not fire for it. Default false: such deletes are judged like any other.
   */
  agentsMayDeleteControlledPods?: boolean;
  /** The most a workload's ServiceAccount may be allowed (`powerfulServiceAccount`); default: the built-in list. */
  serviceAccountBound?: ServiceAccountBound;
}

export interface ServiceAccountBound {
  /** Permissions a workload's ServiceAccount must not hold (checked with SubjectAccessReview). */
  permissions: ServiceAccountPermission[];
}

export interface ServiceAccountPermission {
  /** Kubernetes verb, or `*`. */
  verb: string;
  /** API group (`""` for core, `*` for any). Default `""`. */
  group?: string;
  /** Resource, or `*`. */
  resource: string;
  subresource?: string;
  /** `same` (default): the ServiceAccount's own namespace; `*`: cluster-wide; or a namespace name. */
  namespace?: string;
}

export interface MaskingSpec {
  /** Mask Secret data / stringData values (default true). */
  secrets?: boolean;
  /** Regexes for env var names whose values are masked. */
  envNamePatterns?: string[];
  /** Mask ConfigMap values and annotations that look like credentials (default true). */
  configMaps?: boolean;
  /** Mask secret-looking values in container logs (default true). */
  logs?: boolean;
  /** User-defined regexes masked wherever masking applies. */
  patterns?: string[];
}

export interface RecordingSpec {
  enabled?: boolean;
  /** Record request/response bodies (after masking). */
  bodies?: boolean;
  /**
   * Reads while recordings cannot be made durable (disk full, failing volume): Fail (default) refuses them
   * with a 503 like writes; Ignore forwards them unrecorded. Writes always fail closed: each is recorded
   * before it is forwarded.
   */
  readFailurePolicy?: 'Fail' | 'Ignore';
}

/**
 * At most `limit` requests matching `match` per agent within any `window` (a sliding window), counted
 * across every proxy replica (src/budgets/ledger.ts). A deletecollection counts each object it deletes.
 */
export interface BudgetSpec {
  name: string;
  /** Which requests count (the rule match syntax). */
  match: RuleMatch;
  limit: number;
  /** Go duration such as 10m, 1h, 24h. */
  window: string;
  /** Count separately per target namespace, or per value of a label of the target object. */
  per?: { namespace?: boolean; label?: string };
  /** What happens to a request once the budget is spent: held for approval (default), denied, or audited. */
  onExhausted?: 'hold' | 'deny' | 'audit';
  /** Approval settings for onExhausted hold (defaults: spec.approvals). */
  hold?: HoldSpec;
  /**
   * onExhausted hold: how many requests an approval lets through in the window, the approved one included
   * (default 1). Approving the 21st of 20 deletes with grant 10 lets it and 9 more through.
   */
  grant?: number;
  message?: string;
}

/** A token bucket: `qps` tokens a second, up to `burst` at once. */
export interface TokenBucketSpec {
  qps: number;
  burst?: number;
}

/** Per-agent request rate limits, answered with 429 and Retry-After (src/budgets/rate-limiter.ts). */
export interface RateLimitSpec {
  /** get, list, watch and non-resource reads. */
  read?: TokenBucketSpec;
  /** create, update, patch, delete, deletecollection (and other verbs that change something). */
  write?: TokenBucketSpec;
  /** exec, attach, port-forward and proxy. */
  connect?: TokenBucketSpec;
  /** Requests of one agent in flight at once, long-running ones (watches, exec, log follows) not counted. */
  maxInFlight?: number;
  /** reads (default): a quarter of maxInFlight is kept for reads, so a write storm cannot stop reads. */
  priority?: 'reads' | 'none';
}

export interface AgentPolicySpec {
  agents: AgentSelector;
  /** Namespaces the policy governs (globs). Empty: all namespaces and cluster-scoped resources. */
  namespaces?: string[];
  excludeNamespaces?: string[];
  rules?: Rule[];
  /** Action when no rule matches (default deny). */
  defaultAction?: Exclude<Action, 'mutate'>;
  detectorSettings?: DetectorSettings;
  masking?: MaskingSpec;
  recording?: RecordingSpec;
  /** Defaults for hold rules that do not say. */
  approvals?: HoldSpec;
  /** What to do for this policy's agents when the policy cannot be evaluated (default deny). */
  failurePolicy?: 'deny' | 'allow';
  /** Counts over sliding windows (e.g. at most 20 deletes per hour). */
  budgets?: BudgetSpec[];
  rateLimits?: RateLimitSpec;
}

export interface AgentPolicyStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  rules?: number;
}

export interface AgentPolicy {
  apiVersion: typeof API_VERSION;
  kind: 'AgentPolicy';
  metadata: ObjectMeta;
  spec: AgentPolicySpec;
  status?: AgentPolicyStatus;
}

// ---------- Approval ----------

export type ApprovalPhase = 'Pending' | 'Approved' | 'Denied' | 'Expired' | 'Consumed';

export interface ApprovalRequest {
  user: string;
  uid?: string;
  groups?: string[];
  verb: string;
  /** Admission operation (CREATE, UPDATE, DELETE, CONNECT) when known. */
  operation?: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  via: 'proxy' | 'webhook';
  /** sha256 of user, verb, resource, options, collection items and the normalised object. */
  fingerprint: string;
  /** Human-readable one-line summary (names the options and, for collections, the objects). */
  summary: string;
  /** Options that change the request's effect (selectors, propagationPolicy, exec command, ...), rendered as strings. */
  options?: Record<string, string>;
  /** For deletecollection: how many objects it deletes and their names (sorted, the first 100). */
  collection?: ApprovalCollection;
  /** For exec and attach: what would run, and in which container (image, ServiceAccount) of which pod. */
  exec?: ApprovalExec;
  /** Unified diff against the live object (or the whole object for creates), masked like agent responses. */
  diff?: string;
  /** The normalised object as YAML (truncated past 64 KiB), masked like agent responses. */
  object?: string;
}

export interface ApprovalExec {
  /** argv, one element per entry (empty for attach). */
  command: string[];
  interactive: boolean;
  pod?: string;
  podUID?: string;
  container?: string;
  image?: string;
  serviceAccount?: string;
}

export interface ApprovalCollection {
  count: number;
  /** `name`, or `namespace/name` outside the request's namespace. */
  names: string[];
}

export interface ApprovalSpec {
  request: ApprovalRequest;
  policy: { name: string; rule: string; message?: string };
  approvers: { users?: string[]; groups?: string[] };
  required: number;
  uses: number;
  expiresAt: string;
}

export interface ApprovalDecision {
  decision: 'approve' | 'deny';
  /** Username; must equal the API server's userInfo of whoever wrote it (checked by the webhook). */
  by: string;
  at: string;
  comment?: string;
}

export interface ApprovalStatus {
  phase?: ApprovalPhase;
  decisions?: ApprovalDecision[];
  usesConsumed?: number;
  consumedBy?: string[];
  conditions?: Condition[];
  observedGeneration?: number;
  message?: string;
}

export interface Approval {
  apiVersion: typeof API_VERSION;
  kind: 'Approval';
  metadata: ObjectMeta;
  spec: ApprovalSpec;
  status?: ApprovalStatus;
}

// ---------- BudgetUsage ----------

/** Units an approver added to a budget's limit (by approving a request it held), for one window from `at`. */
export interface BudgetGrant {
  at: number;
  units: number;
  approval?: string;
}

/** What one budget of one agent (and scope) has spent: kept by the proxy replicas, one object per key. */
export interface BudgetUsage {
  apiVersion: typeof API_VERSION;
  kind: 'BudgetUsage';
  metadata: ObjectMeta;
  spec: {
    agent: string;
    policy: string;
    budget: string;
    /** The scope of a per-namespace or per-label budget: `namespace=x` or `label:k=v` (empty: the agent). */
    scope?: string;
    limit: number;
    window: string;
  };
  status?: {
    /** When each counted request was let through (epoch milliseconds), oldest first, inside the window. */
    charges?: number[];
    /** Units approvers added to the limit, each for one window from its time. */
    grants?: BudgetGrant[];
  };
}
