// The policy engine's contract: what callers (proxy, webhook, offline tester) pass in, what comes back.
// Pure data; no HTTP, no Kubernetes client. Implemented in src/policy/engine.ts.
import type { CompiledBudget, ResolvedRateLimits } from './compile.js';
import type { AgentPolicy, HoldSpec, JsonPatchOp, MaskingSpec, RecordingSpec, ServiceAccountPermission } from '../api/types.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  /** Extra attributes; OIDC claims appear as `oidc.airlock.dev/<claim>`. */
  extra?: Record<string, string[]>;
}

export type Via = 'proxy' | 'webhook' | 'test';

/** Where a request points: the Kubernetes verb and the resource coordinates (shared by the proxy's
 * RequestInfo, masking's MaskTarget and the engine's RequestAttributes). */
export interface ResourceCoordinates {
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface RequestAttributes extends ResourceCoordinates {
  user: UserInfo;
  /** Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection, proxy, or connect-ish (create on pods/exec). */
  verb: string;
  /** Resource request (false for non-resource paths such as /healthz, /version, /openapi/v3). */
  isResourceRequest: boolean;
  /** For non-resource requests. */
  path?: string;
  /** The object after the request (create/update/patch result, dry-run result for patches). */
  object?: Record<string, unknown>;
  /** The live object before the request (update/patch/delete). */
  oldObject?: Record<string, unknown>;
  /** Labels of the request's namespace when the caller knows them. */
  namespaceLabels?: Record<string, string>;
  dryRun?: boolean;
  via: Via;
  /** Admission operation if via webhook (CREATE, UPDATE, DELETE, CONNECT). */
  operation?: string;
  /**
   * Options that change the request's effect, as the API server applies them (proxy: effectiveOptions in
   * src/proxy/request-options.ts; webhook: the AdmissionReview's options object). Fingerprinted and shown
   * on Approvals.
   */
  options?: Record<string, unknown>;
  /** For pods/exec and pods/attach: what would run, and where. */
  exec?: ExecAttributes;
  /** For deletecollection: the objects it would delete, listed when it is judged. Fingerprinted. */
  collectionItems?: CollectionItem[];
  /**
   * What the ServiceAccounts the request's pod specs run as may do, keyed `<namespace>/<name>`: filled by the
   * caller before deciding (enrichServiceAccounts, src/policy/service-account-enrich.ts). A ServiceAccount
   * missing here counts as unknown, which powerfulServiceAccount denies.
   */
  serviceAccounts?: Record<string, ServiceAccountPower>;
  /**
   * For a workload whose controller adopts what its selector matches: the existing objects no controller
   * owns, which it would adopt (and may delete), or why they are unknown. Filled by the caller before
   * deciding (enrichAdoptions, src/policy/adoption.ts); judged by adoptsOthersObjects.
   */
  adoptions?: { orphans: { name: string; creator?: string }[] } | { error: string };
}

/** An exec or attach: the proxy fills it from the query and the pod; the webhook from PodExecOptions. */
export interface ExecAttributes {
  kind: 'exec' | 'attach';
  /** The argv of an exec, in order (empty for attach). */
  command: string[];
  container?: string;
  /** stdin or tty was asked for: an interactive session. */
  interactive: boolean;
  /** The target container as its pod spec says (the proxy reads the pod; the webhook does not). */
  target?: ExecTarget;
}

export interface ExecTarget {
  pod: string;
  podUID?: string;
  container: string;
  image?: string;
  serviceAccount?: string;
  /** Where the container's credentials are mounted: Secret volumes, projected ServiceAccount tokens. */
  credentialPaths: string[];
  workingDir?: string;
}

/** One object of a collection request. */
export interface CollectionItem {
  namespace?: string;
  name: string;
  uid?: string;
}

/**
 * The permissions of a ServiceAccount, by permission key (permissionKey in src/policy/service-account-power.ts):
 * `checked` were asked about, `dangerous` are the ones it holds. Or why they could not be found out.
 */
export type ServiceAccountPower = { dangerous: string[]; checked: string[] } | { error: string };

export interface Explanation {
  detector: string;
  /** Field path of the offending value, e.g. spec.template.spec.containers[1].securityContext.privileged */
  path: string;
  message: string;
}

export interface RuleRef {
  policy: string;
  rule: string; // rule name, or "defaultAction"
}

export interface AuditHit extends RuleRef {
  message: string;
  explanations: Explanation[];
}

export type Decision =
  | ({ action: 'allow' } & DecisionCommon)
  | ({ action: 'deny'; reason: string } & DecisionCommon)
  | ({ action: 'hold'; reason: string; hold: Required<Pick<HoldSpec, 'required' | 'ttl' | 'mode' | 'inlineTimeout' | 'uses'>> & { approvers: { users: string[]; groups: string[] } } } & DecisionCommon)
  | ({ action: 'mutate'; patch: JsonPatchOp[]; reason: string } & DecisionCommon);

export interface DecisionCommon {
  /** The rule that decided (absent when no policy governs the identity: `agent` false). */
  matched?: RuleRef;
  /** Whether any AgentPolicy names this identity as an agent. */
  agent: boolean;
  /** Names of the policies that govern this identity. */
  policies: string[];
  explanations: Explanation[];
  /** Audit-only rules that matched (never block). */
  audits: AuditHit[];
  /** Merged masking rules for the response (undefined: no masking). */
  masking?: ResolvedMasking;
  /** readFailurePolicy unset means Fail. */
  recording: Required<Pick<RecordingSpec, 'enabled' | 'bodies'>> & Pick<RecordingSpec, 'readFailurePolicy'>;
}

export interface ResolvedMasking {
  secrets: boolean;
  configMaps: boolean;
  logs: boolean;
  envNamePatterns: RegExp[];
  patterns: RegExp[];
}

export interface CompileResult {
  ok: boolean;
  /** Messages naming the field, e.g. "spec.rules[1].detectors[0]: unknown detector \"privilegd\"". */
  errors: string[];
  warnings: string[];
}

/** The engine holds compiled policies; the operator/informer feeds it. */
export interface PolicyEngine {
  /** Adds or replaces a policy (by name). Returns the compile result; an invalid policy is kept in a fail-closed form. */
  upsert(policy: AgentPolicy): Promise<CompileResult>;
  remove(name: string): void;
  /** Decides a request. Pure given the loaded policies; never throws (errors become deny). */
  decide(req: RequestAttributes): Decision;
  /** The masking settings for an identity without a full request (e.g. for streaming responses). */
  policiesFor(user: UserInfo): string[];
  /**
   * The ServiceAccount permissions to check before deciding a workload write of this identity: the union of
   * the bounds of its policies that use powerfulServiceAccount (empty: nothing to check).
   */
  serviceAccountBound?(user: UserInfo): ServiceAccountPermission[];
  /** The budgets a request counts against (src/budgets/). */
  budgetsFor?(req: RequestAttributes): CompiledBudget[];
  /** The rate limits of an identity (undefined: not limited). */
  rateLimitsFor?(user: UserInfo): ResolvedRateLimits | undefined;
}

export type { MaskingSpec };
