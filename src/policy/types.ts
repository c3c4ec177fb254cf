// The policy engine's contract: what callers (proxy, webhook, offline tester) pass in, what comes back.
// Pure data; no HTTP, no Kubernetes client. Implemented in src/policy/engine.ts.
import type { AgentPolicy, HoldSpec, JsonPatchOp, MaskingSpec, RecordingSpec } from '../api/types.js';

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
  /** Query options that matter to detectors (e.g. pods/exec command, log container). */
  options?: Record<string, unknown>;
}

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
  recording: Required<RecordingSpec>;
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
}

export type { MaskingSpec };
