// Masks one parsed Kubernetes object (or watch event, List, Table) in place. Pure apart from the counts.
// What is masked:
//  - Secret data (base64 of a marker) and stringData (marker)                      when rules.secrets
//  - ConfigMap data / binaryData values that hold secret-shaped text               when rules.configMaps
//  - env values of containers anywhere in the object (Pods, every pod template) whose name matches
//    rules.envNamePatterns or a credential-like name, or whose value looks like a secret
//  - metadata.annotations: last-applied-configuration is parsed and masked as the object it holds
//    (a Secret's data inside it!), other annotations by the detectors
//  - every other string outside metadata: detectors and user patterns
// metadata (names, resourceVersion, labels, ...) is never changed apart from annotations.
import type { ResolvedMasking } from '../policy/types.js';
import { bump, type MaskCounts, type TextMasker } from './detectors.js';
import { isMarker } from './marker.js';
import { parseJson } from './json-parse.js';

export interface ObjectMaskContext {
  text: TextMasker;
  rules: ResolvedMasking;
  counts: MaskCounts;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const CONTAINER_KEYS = new Set(['containers', 'initContainers', 'ephemeralContainers']);
const CRED_NAME = /(?:password|passwd|passphrase|secret|token|api_?key|apikey|access_?key|private_?key|credential|auth)/i;
const REF_NAME = /(?:_name|_ref|_path|_file|_dir|_url|_id|_type|_ttl|_expiry|_seconds)$/i;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !JSON.isRawJSON(v);
}

/** Kind to assume for objects without one (list items, PartialObjectMetadata in Tables) from the resource. */
export function kindForResource(resource: string | undefined): string | undefined {
  switch (resource) {
    case 'secrets': return 'Secret';
    case 'configmaps': return 'ConfigMap';
    case 'pods': return 'Pod';
    case 'podtemplates': return 'PodTemplate';
    case 'deployments': return 'Deployment';
    case 'replicasets': return 'ReplicaSet';
    case 'statefulsets': return 'StatefulSet';
    case 'daemonsets': return 'DaemonSet';
    case 'jobs': return 'Job';
    case 'cronjobs': return 'CronJob';
    case 'replicationcontrollers': return 'ReplicationController';
    default: return undefined;
  }
}

/** Masks a value in place (objects are mutated) and returns it (strings are returned replaced). */
export function maskObject(value: unknown, ctx: ObjectMaskContext, kindHint?: string): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = maskObject(value[i], ctx, kindHint);
    return value;
  }
  if (typeof value === 'string') return ctx.text.mask(value, 'field', ctx.counts);
  if (!isObj(value)) return value;
  const ownKind = typeof value.kind === 'string' ? value.kind : undefined;
  // Watch event: {type, object}.
  if (ownKind === undefined && typeof value.type === 'string' && isObj(value.object) && Object.keys(value).length <= 2) {
    value.type = ctx.text.mask(value.type, 'field', ctx.counts);
    value.object = maskObject(value.object, ctx, kindHint);
    return value;
  }
  const kind = ownKind && !ownKind.startsWith('PartialObjectMetadata') ? ownKind : kindHint;
  if (kind === 'Table' && Array.isArray(value.rows)) {
    for (const row of value.rows) maskRow(row, ctx, kindHint);
    return value;
  }
  if (Array.isArray(value.items) && (kind === undefined || kind.endsWith('List') || ownKind?.startsWith('PartialObjectMetadata'))) {
    const itemHint = kind && kind !== 'List' && kind.endsWith('List') ? kind.slice(0, -4) : kindHint;
    for (let i = 0; i < value.items.length; i++) value.items[i] = maskObject(value.items[i], ctx, itemHint);
    maskMetadata(value.metadata, ctx, kind);
    return value;
  }
  maskMetadata(value.metadata, ctx, kind);
  if (kind === 'Secret' && ctx.rules.secrets) maskSecretFields(value, ctx);
  else if (kind === 'ConfigMap' && ctx.rules.configMaps) maskConfigMapFields(value, ctx);
  for (const [k, v] of Object.entries(value)) {
    if (k === 'metadata' || k === 'kind' || k === 'apiVersion') continue;
    if (kind === 'Secret' && (k === 'data' || k === 'stringData') && ctx.rules.secrets) continue;
    if (kind === 'ConfigMap' && (k === 'data' || k === 'binaryData') && ctx.rules.configMaps) continue;
    value[k] = maskTree(v, ctx, k);
  }
  return value;
}

/** A Table row: cells by the detectors, the embedded object (full or PartialObjectMetadata) as an object. */
export function maskRow(row: unknown, ctx: ObjectMaskContext, kindHint?: string): unknown {
  if (!isObj(row)) return row;
  if (Array.isArray(row.cells)) row.cells = row.cells.map((c) => (typeof c === 'string' ? ctx.text.mask(c, 'field', ctx.counts) : c));
  if (row.object !== undefined) row.object = maskObject(row.object, ctx, kindHint);
  return row;
}

function maskSecretFields(secret: Obj, ctx: ObjectMaskContext): void {
  const marker = ctx.text.marker;
  if (isObj(secret.data)) {
    for (const [k, v] of Object.entries(secret.data)) {
      if (typeof v !== 'string') continue;
      const decoded = Buffer.from(v, 'base64');
      if (isMarker(decoded.toString('utf8'))) continue;
      secret.data[k] = marker.markBase64(decoded);
      bump(ctx.counts, 'secret');
    }
  }
  if (isObj(secret.stringData)) {
    for (const [k, v] of Object.entries(secret.stringData)) {
      if (typeof v !== 'string' || isMarker(v)) continue;
      // Same marker as the base64 form of the same value in data.
      secret.stringData[k] = marker.mark(Buffer.from(v, 'utf8'));
      bump(ctx.counts, 'secret');
    }
  }
}

function maskConfigMapFields(cm: Obj, ctx: ObjectMaskContext): void {
  if (isObj(cm.data)) {
    for (const [k, v] of Object.entries(cm.data)) {
      if (typeof v !== 'string') continue;
      // A key named like a credential (DB_PASSWORD) becomes an env var name through envFrom: its value is
      // masked whole, as the same-named env value would be.
      if (v !== '' && !isMarker(v) && envNameIsSecret(k, ctx.rules.envNamePatterns)) {
        cm.data[k] = ctx.text.marker.mark(v);
        bump(ctx.counts, 'configmap');
      } else cm.data[k] = ctx.text.mask(v, 'configmap', ctx.counts);
    }
  }
  if (isObj(cm.binaryData)) {
    for (const [k, v] of Object.entries(cm.binaryData)) {
      if (typeof v !== 'string') continue;
      const decoded = Buffer.from(v, 'base64');
      const text = decoded.toString('utf8');
      // Only text content can be scanned; binary blobs are left as they are.
      if (!Buffer.from(text, 'utf8').equals(decoded)) continue;
      const masked = ctx.text.mask(text, 'configmap', ctx.counts);
      if (masked !== text) cm.binaryData[k] = Buffer.from(masked, 'utf8').toString('base64');
    }
  }
}

function maskMetadata(meta: unknown, ctx: ObjectMaskContext, kind: string | undefined): void {
  if (!isObj(meta) || !isObj(meta.annotations)) return;
  const ann = meta.annotations;
  for (const [k, v] of Object.entries(ann)) {
    if (typeof v !== 'string') continue;
    if (k === LAST_APPLIED) {
      ann[k] = maskLastApplied(v, ctx, kind);
      continue;
    }
    ann[k] = ctx.text.mask(v, 'annotation', ctx.counts);
  }
}

/** last-applied-configuration holds the whole applied object as JSON: mask it as that object. */
function maskLastApplied(v: string, ctx: ObjectMaskContext, kind: string | undefined): string {
  let inner: unknown;
  try {
    inner = parseJson(v);
  } catch {
    return ctx.text.mask(v, 'annotation', ctx.counts);
  }
  const before = JSON.stringify(inner);
  const innerKind = isObj(inner) && typeof inner.kind === 'string' ? inner.kind : kind;
  const masked = JSON.stringify(maskObject(inner, ctx, innerKind));
  // Keep the annotation byte-identical when nothing inside needed masking.
  return masked === before ? v : masked + (v.endsWith('\n') ? '\n' : '');
}

/** Generic walk below an object's top level: containers' env, every other string by the detectors. */
function maskTree(node: unknown, ctx: ObjectMaskContext, key: string): unknown {
  if (typeof node === 'string') return ctx.text.mask(node, 'field', ctx.counts);
  if (Array.isArray(node)) {
    if (CONTAINER_KEYS.has(key)) {
      for (const c of node) if (isObj(c) && Array.isArray(c.env)) maskEnv(c.env, ctx);
    }
    for (let i = 0; i < node.length; i++) node[i] = maskTree(node[i], ctx, '');
    return node;
  }
  if (!isObj(node)) return node;
  // A Secret manifest embedded in another object (a CR's spec, a template) is masked like a Secret.
  const embeddedSecret = node.kind === 'Secret' && ctx.rules.secrets && (isObj(node.data) || isObj(node.stringData));
  if (embeddedSecret) maskSecretFields(node, ctx);
  for (const [k, v] of Object.entries(node)) {
    if (embeddedSecret && (k === 'data' || k === 'stringData')) continue;
    if (k === 'metadata') {
      maskMetadata(v, ctx, undefined);
      continue;
    }
    if (k === 'env' && Array.isArray(v)) continue; // handled by maskEnv via the container
    node[k] = maskTree(v, ctx, k);
  }
  return node;
}

function maskEnv(env: unknown[], ctx: ObjectMaskContext): void {
  for (const e of env) {
    if (!isObj(e) || typeof e.value !== 'string' || e.value === '' || isMarker(e.value)) continue;
    const name = typeof e.name === 'string' ? e.name : '';
    if (envNameIsSecret(name, ctx.rules.envNamePatterns)) {
      e.value = ctx.text.marker.mark(e.value);
      bump(ctx.counts, 'env');
    } else {
      e.value = ctx.text.mask(e.value, 'env', ctx.counts);
    }
  }
}

export function envNameIsSecret(name: string, patterns: readonly RegExp[]): boolean {
  for (const p of patterns) {
    p.lastIndex = 0;
    if (p.test(name)) return (p.lastIndex = 0), true;
  }
  return CRED_NAME.test(name) && !REF_NAME.test(name);
}
