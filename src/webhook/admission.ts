// AdmissionReview (admission.k8s.io/v1 and v1beta1) shapes, validation of untrusted input, and the
// adaptation of an AdmissionRequest to the policy engine's RequestAttributes.
import type { RequestAttributes, UserInfo } from '../policy/types.js';
import { execAttributesOf } from '../policy/exec-facts.js';
import { statusReason } from '../proxy/status.js';

export const ADMISSION_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type AdmissionApiVersion = (typeof ADMISSION_VERSIONS)[number];

export interface GroupVersionResource { group: string; version: string; resource: string }
export interface GroupVersionKind { group: string; version: string; kind: string }

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  userInfo: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  object?: Record<string, unknown> | null;
  oldObject?: Record<string, unknown> | null;
  dryRun?: boolean;
  options?: Record<string, unknown> | null;
}

export interface AdmissionReview {
  apiVersion: AdmissionApiVersion;
  kind: 'AdmissionReview';
  request: AdmissionRequest;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string; status?: 'Failure' | 'Success' };
  warnings?: string[];
}

export class BadReview extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

function gvr(v: unknown, field: string): GroupVersionResource {
  if (!isObj(v) || typeof v.version !== 'string' || typeof v.resource !== 'string' || (v.group !== undefined && typeof v.group !== 'string')) {
    throw new BadReview(`request.${field} must be an object with group, version and resource strings`);
  }
  return { group: (v.group as string | undefined) ?? '', version: v.version, resource: v.resource };
}

function optString(r: Record<string, unknown>, k: string): void {
  if (r[k] !== undefined && r[k] !== null && typeof r[k] !== 'string') throw new BadReview(`request.${k} must be a string`);
}

/** Validates a parsed body as an AdmissionReview; throws BadReview naming the first problem. */
export function parseReview(body: unknown): AdmissionReview {
  if (!isObj(body)) throw new BadReview('body must be a JSON object (an AdmissionReview)');
  if (body.kind !== 'AdmissionReview') throw new BadReview(`kind must be AdmissionReview, got ${JSON.stringify(body.kind ?? null).slice(0, 80)}`);
  if (!ADMISSION_VERSIONS.includes(body.apiVersion as AdmissionApiVersion)) {
    throw new BadReview(`apiVersion must be one of ${ADMISSION_VERSIONS.join(', ')}, got ${JSON.stringify(body.apiVersion ?? null).slice(0, 80)}`);
  }
  const r = body.request;
  if (!isObj(r)) throw new BadReview('request is missing: an AdmissionReview to validate carries a request');
  if (typeof r.uid !== 'string' || r.uid === '') throw new BadReview('request.uid is missing: the response must echo it');
  if (r.uid.length > 256) throw new BadReview('request.uid is too long');
  if (typeof r.operation !== 'string' || !OPERATIONS.has(r.operation)) throw new BadReview('request.operation must be CREATE, UPDATE, DELETE or CONNECT');
  gvr(r.resource, 'resource');
  if (!isObj(r.userInfo)) throw new BadReview('request.userInfo is missing');
  const ui = r.userInfo;
  if (ui.username !== undefined && typeof ui.username !== 'string') throw new BadReview('request.userInfo.username must be a string');
  if (ui.groups !== undefined && (!Array.isArray(ui.groups) || ui.groups.some((g) => typeof g !== 'string'))) throw new BadReview('request.userInfo.groups must be a list of strings');
  for (const k of ['name', 'namespace', 'subResource']) optString(r, k);
  for (const k of ['object', 'oldObject', 'options']) if (r[k] !== undefined && r[k] !== null && !isObj(r[k])) throw new BadReview(`request.${k} must be an object`);
  if (r.dryRun !== undefined && r.dryRun !== null && typeof r.dryRun !== 'boolean') throw new BadReview('request.dryRun must be a boolean');
  return body as unknown as AdmissionReview;
}

export function userInfoOf(r: AdmissionRequest): UserInfo {
  const u = r.userInfo;
  return {
    username: u.username ?? '',
    ...(u.uid ? { uid: u.uid } : {}),
    groups: [...(u.groups ?? [])],
    ...(u.extra && isObj(u.extra) ? { extra: u.extra } : {}),
  };
}

/** The Kubernetes verb of an admission operation. UPDATE from a PATCH keeps "patch" (the object is the result). */
export function verbOf(r: AdmissionRequest): string {
  switch (r.operation) {
    case 'CREATE':
      return 'create';
    case 'UPDATE':
      return r.options && r.options.kind === 'PatchOptions' ? 'patch' : 'update';
    case 'DELETE':
      return 'delete';
    case 'CONNECT':
      // pods/exec, attach, portforward are authorised as create (POST); */proxy as the proxy verb.
      return r.subResource === 'proxy' ? 'proxy' : 'create';
  }
}

export function toAttributes(r: AdmissionRequest, namespaceLabels?: Record<string, string>): RequestAttributes {
  const object = r.object ?? undefined;
  const oldObject = r.oldObject ?? undefined;
  const meta = (object?.metadata ?? oldObject?.metadata) as { name?: string } | undefined;
  const name = r.name || meta?.name || undefined;
  // CONNECT carries the connect options (e.g. PodExecOptions with the command) as its object.
  const options = r.options ?? (r.operation === 'CONNECT' && object ? object : undefined);
  const exec = execAttributesOf({ apiGroup: r.resource.group ?? '', resource: r.resource.resource, ...(r.subResource ? { subresource: r.subResource } : {}) }, options);
  return {
    user: userInfoOf(r),
    verb: verbOf(r),
    isResourceRequest: true,
    apiGroup: r.resource.group ?? '',
    apiVersion: r.resource.version,
    resource: r.resource.resource,
    ...(r.subResource ? { subresource: r.subResource } : {}),
    ...(r.namespace ? { namespace: r.namespace } : {}),
    ...(name ? { name } : {}),
    ...(object ? { object } : {}),
    ...(oldObject ? { oldObject } : {}),
    ...(namespaceLabels ? { namespaceLabels } : {}),
    dryRun: r.dryRun === true,
    via: 'webhook',
    operation: r.operation,
    ...(options ? { options } : {}),
    ...(exec ? { exec } : {}),
  };
}

export function reviewResponse(apiVersion: AdmissionApiVersion, response: AdmissionResponse): Record<string, unknown> {
  return { apiVersion, kind: 'AdmissionReview', response };
}

export function allow(uid: string, warnings: string[] = []): AdmissionResponse {
  return { uid, allowed: true, ...(warnings.length ? { warnings } : {}) };
}

export function reject(uid: string, message: string, code = 403, warnings: string[] = []): AdmissionResponse {
  const reason = statusReason(code) ?? 'InternalError';
  return { uid, allowed: false, status: { status: 'Failure', code, reason, message: message.slice(0, 8192) }, ...(warnings.length ? { warnings } : {}) };
}
