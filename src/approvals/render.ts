// Builds the human-facing parts of an Approval: name, one-line summary, YAML of the object, diff.
import { createHash } from 'node:crypto';
import yaml from 'js-yaml';
import type { RequestAttributes } from '../policy/types.js';
import { unifiedDiff } from './diff.js';
import { normaliseObject } from './fingerprint.js';

export const MAX_OBJECT_CHARS = 64 * 1024;
export const MAX_DIFF_CHARS = 200 * 1024;

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

/** `agent-ci update deployments/prod/web (apps/v1) via webhook` */
export function summarise(req: RequestAttributes): string {
  const res = req.subresource ? `${req.resource}/${req.subresource}` : req.resource;
  const target = [req.namespace, req.name].filter(Boolean).join('/') || '(collection)';
  const gv = req.apiGroup ? `${req.apiGroup}/${req.apiVersion}` : req.apiVersion;
  return `${req.user.username} ${req.verb} ${res} ${target} (${gv}) via ${req.via}`.slice(0, 4096);
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

/** Unified diff against the live object, the whole object for creates, or the removed object for deletes. */
export function requestDiff(req: RequestAttributes): string {
  const before = toYaml(redactForDisplay(normaliseObject(req.oldObject)));
  const after = req.verb === 'delete' || req.verb === 'deletecollection' ? '' : toYaml(redactForDisplay(normaliseObject(req.object)));
  const label = [req.resource, req.namespace, req.name].filter(Boolean).join('/');
  return truncate(unifiedDiff(before, after, { fromLabel: before ? `live/${label}` : '/dev/null', toLabel: after ? `requested/${label}` : '/dev/null' }), MAX_DIFF_CHARS);
}

export function requestObjectYaml(req: RequestAttributes): string {
  const obj = req.object ?? req.oldObject;
  return truncate(toYaml(redactForDisplay(normaliseObject(obj))), MAX_OBJECT_CHARS);
}
