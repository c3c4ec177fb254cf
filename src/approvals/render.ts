// Builds the human-facing parts of an Approval: name, one-line summary, YAML of the object, diff.
import { createHash } from 'node:crypto';
import yaml from 'js-yaml';
import type { ApprovalCollection, ApprovalExec } from '../api/types.js';
import type { RequestAttributes } from '../policy/types.js';
import { unifiedDiff } from './diff.js';
import { collectionSet, effectOptions, itemLabel, SELECTOR_OPTIONS } from './effect.js';
import { normaliseObject } from './fingerprint.js';

export const MAX_OBJECT_CHARS = 64 * 1024;
export const MAX_DIFF_CHARS = 200 * 1024;
export const MAX_OPTION_CHARS = 4096;
export const MAX_OPTIONS = 64;
export const MAX_COLLECTION_NAMES = 100;
/** Names of deleted objects spelled out in the one-line summary. */
const SUMMARY_NAMES = 10;

function dns1123(s: string, max: number): string {
  return s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '').slice(0, max).replace(/-$/, '');
}

/** Deterministic Approval name: `<resource>-<name>-<fp[0:10]>` sanitised to DNS-1123; `-N` for the N-th one. */
export function approvalName(req: Pick<RequestAttributes, 'resource' | 'subresource' | 'name'>, fp: string, n = 1): string {
  const res = dns1123(req.subresource ? `${req.resource}-${req.subresource}` : req.resource, 30) || 'resource';
  const obj = dns1123(req.name ?? '', 30) || 'new';
  const base = `${res}-${obj}-${fp.slice(0, 10)}`;
  return n > 1 ? `${base}-${n}` : base;
}

export function toYaml(obj: Record<string, unknown> | undefined): string {
  if (!obj) return '';
  return yaml.dump(obj, { sortKeys: true, lineWidth: 120, noRefs: true });
}

function truncate(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) + `\n... (truncated, ${s.length - max} more characters)\n` : s;
}

const pairs = (o: Record<string, string>): string => Object.entries(o).map(([k, v]) => `${k}=${v}`).join(', ');

/**
 * `agent-ci update deployments prod/web (apps/v1) via webhook`, then the options and, for a
 * deletecollection, what it deletes: `agent deletecollection configmaps in team (v1) via proxy
 * where labelSelector=app=temp: 3 objects (a, b, c)`.
 */
export function summarise(req: RequestAttributes): string {
  const res = req.subresource ? `${req.resource}/${req.subresource}` : req.resource;
  const collection = req.verb === 'deletecollection';
  const target = collection ? (req.namespace ? `in ${req.namespace}` : 'cluster-wide') : [req.namespace, req.name].filter(Boolean).join('/') || '(collection)';
  const gv = req.apiGroup ? `${req.apiGroup}/${req.apiVersion}` : req.apiVersion;
  const options = effectOptions(req.options);
  const where = Object.fromEntries(Object.entries(options).filter(([k]) => SELECTOR_OPTIONS.has(k)));
  const other = Object.fromEntries(Object.entries(options).filter(([k]) => !SELECTOR_OPTIONS.has(k)));
  let s = `${req.user.username} ${req.verb} ${res} ${target} (${gv}) via ${req.via}`;
  if (Object.keys(where).length) s += ` where ${pairs(where)}`;
  if (Object.keys(other).length) s += ` with ${pairs(other)}`;
  const items = collection ? collectionSet(req.collectionItems) : undefined;
  if (items) {
    const names = items.slice(0, SUMMARY_NAMES).map((i) => itemLabel(i, req.namespace));
    const more = items.length > SUMMARY_NAMES ? ` and ${items.length - SUMMARY_NAMES} more` : '';
    s += `: ${items.length} object${items.length === 1 ? '' : 's'}${names.length ? ` (${names.join(', ')}${more})` : ''}`;
  }
  return s.length > 4096 ? s.slice(0, 4093) + '...' : s;
}

/** spec.request.options: the effect-changing options, each value capped (the fingerprint covers them whole). */
export function approvalOptions(req: Pick<RequestAttributes, 'options'>): Record<string, string> | undefined {
  const entries = Object.entries(effectOptions(req.options));
  if (!entries.length) return undefined;
  const cap = (v: string): string => (v.length > MAX_OPTION_CHARS ? v.slice(0, MAX_OPTION_CHARS - 40) + `... (truncated, ${v.length} characters)` : v);
  return Object.fromEntries(entries.slice(0, MAX_OPTIONS).map(([k, v]) => [k, cap(v)]));
}

/** spec.request.exec: the argv (each element capped) and the target container, for exec and attach. */
export function approvalExec(req: Pick<RequestAttributes, 'exec'>): ApprovalExec | undefined {
  const e = req.exec;
  if (!e) return undefined;
  const t = e.target;
  const cap = (v: string): string => (v.length > MAX_OPTION_CHARS ? v.slice(0, MAX_OPTION_CHARS - 40) + `... (truncated, ${v.length} characters)` : v);
  return {
    command: e.command.slice(0, 256).map(cap),
    interactive: e.interactive,
    ...(t ? { pod: t.pod, ...(t.podUID ? { podUID: t.podUID } : {}), container: t.container, ...(t.image ? { image: t.image } : {}), ...(t.serviceAccount ? { serviceAccount: t.serviceAccount } : {}) } : e.container ? { container: e.container } : {}),
  };
}

/** spec.request.collection: how many objects a deletecollection deletes and the first names (sorted). */
export function approvalCollection(req: Pick<RequestAttributes, 'verb' | 'namespace' | 'collectionItems'>): ApprovalCollection | undefined {
  const items = req.verb === 'deletecollection' ? collectionSet(req.collectionItems) : undefined;
  if (!items) return undefined;
  return { count: items.length, names: items.slice(0, MAX_COLLECTION_NAMES).map((i) => itemLabel(i, req.namespace)) };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Approvals are read by approvers (and listed by anyone allowed to read them): a Secret's values never go
 * into one. Each value becomes `(redacted sha256:<8 hex>)`, so a reviewer still sees which keys change.
 */
export function redactForDisplay(obj: Obj | undefined): Obj | undefined {
  if (!obj) return obj;
  if (Array.isArray(obj.items)) return { ...obj, items: obj.items.map((i) => (isObj(i) ? redactForDisplay(i) : i)) };
  if (obj.kind !== 'Secret') return obj;
  const out: Obj = { ...obj };
  for (const field of ['data', 'stringData']) {
    const values = obj[field];
    if (!isObj(values)) continue;
    out[field] = Object.fromEntries(
      Object.entries(values).map(([k, v]) => [k, `(redacted sha256:${createHash('sha256').update(String(v)).digest('hex').slice(0, 8)})`]),
    );
  }
  return out;
}

/** Hides values before an object is shown (the masker's rules for the agent; see redact.ts). Gets a copy it may change. */
export type Redact = (obj: Obj) => Obj;

/** Normalised, masked (redact) and Secret-redacted: the form in which an object appears on an Approval. */
function shownObject(obj: Obj | undefined, redact: Redact | undefined): Obj | undefined {
  const normal = normaliseObject(obj);
  return redactForDisplay(normal && redact ? redact(normal) : normal);
}

/**
 * Unified diff against the live object, the whole object for creates, or the removed object for deletes.
 * Both sides go through the same redaction: equal values get equal markers (no diff line), changed values
 * different ones.
 */
export function requestDiff(req: RequestAttributes, redact?: Redact): string {
  const before = toYaml(shownObject(req.oldObject, redact));
  const after = req.verb === 'delete' || req.verb === 'deletecollection' ? '' : toYaml(shownObject(req.object, redact));
  const label = [req.resource, req.namespace, req.name].filter(Boolean).join('/');
  return truncate(unifiedDiff(before, after, { fromLabel: before ? `live/${label}` : '/dev/null', toLabel: after ? `requested/${label}` : '/dev/null' }), MAX_DIFF_CHARS);
}

export function requestObjectYaml(req: RequestAttributes, redact?: Redact): string {
  return truncate(toYaml(shownObject(req.object ?? req.oldObject, redact)), MAX_OBJECT_CHARS);
}
