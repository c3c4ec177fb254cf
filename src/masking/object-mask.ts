// Masks one parsed Kubernetes object (or watch event, List, Table) in place. Pure apart from the counts.
// What is masked:
//  - Secret data (base64 of a marker) and stringData (marker)                      when rules.secrets
//  - ConfigMap data: values under credential keys whole, other values' secret-shaped text, binaryData text
//                                                                                  when rules.configMaps
//  - env-like lists [{name, value}] anywhere (containers, Tekton steps, Argo templates, any CR): the value
//    whole when the name matches rules.envNamePatterns or a credential-like name, else its secret-shaped
//    text; valueFrom is left as it is
//  - credential-named fields anywhere (spec.password, apiToken, clientSecret, ...): the value whole
//  - metadata.annotations: last-applied-configuration is parsed and masked as the object it holds
//    (a Secret's data inside it!), other annotations by the text masker; labels that hold a known value
//    are replaced whole
//  - Table rows: cells of credential-named columns whole, other cells by the text masker, row.object as
//    an object, then reduced to what the agent asked for (tableIncludeObject)
//  - every other string outside metadata: known values, detectors and user patterns (ctx.text)
// Other metadata (names, resourceVersion, ...) is never changed.
import type { ResolvedMasking } from '../policy/types.js';
import { envNameIsSecret, fieldNameIsCredential } from './credential-names.js';
import { bump, type MaskCounts, type MaskKind, type TextMasker } from './detectors.js';
import { decodeRelease, encodeRelease, HELM_RELEASE_KEY, isHelmRelease, maskRelease } from './helm-release.js';
import { isMarker } from './marker.js';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ValueScrubber } from './value-scrubber.js';
import { parseJson } from './json-parse.js';
import { collectProtectedValues, credentialColumnsOf, isDataMap, isEnvLike, isObj } from './protected-values.js';
import type { MaskTarget } from './types.js';

export interface ObjectMaskContext {
  text: TextMasker;
  rules: ResolvedMasking;
  counts: MaskCounts;
  /** What the agent asked a Table's rows to carry (see MaskTarget.tableIncludeObject). */
  tableIncludeObject?: MaskTarget['tableIncludeObject'];
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type Obj = Record<string, unknown>;

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

function markWhole(v: string, ctx: ObjectMaskContext, kind: MaskKind): string {
  if (v === '' || isMarker(v)) return v;
  bump(ctx.counts, kind);
  return ctx.text.marker.mark(v);
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
    const cols = credentialColumnsOf(value.columnDefinitions);
    for (let i = 0; i < value.rows.length; i++) value.rows[i] = maskRow(value.rows[i], ctx, kindHint, cols);
    maskMetadata(value.metadata, ctx, kind);
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
  // A Helm record holds Secret manifests: masked with Secrets, even where ConfigMaps are not.
  else if (kind === 'ConfigMap' && ctx.rules.secrets) maskHelmConfigMapRecord(value, ctx);
  for (const [k, v] of Object.entries(value)) {
    if (k === 'metadata' || k === 'kind' || k === 'apiVersion') continue;
    if (isDataMap(kind, k)) {
      // Masked above when the rules ask for it; otherwise its keys are data, not field names.
      if (!(kind === 'Secret' ? ctx.rules.secrets : ctx.rules.configMaps)) value[k] = maskDataMapText(v, ctx);
      continue;
    }
    value[k] = maskTree(v, ctx, k);
  }
  return value;
}

function maskDataMapText(map: unknown, ctx: ObjectMaskContext): unknown {
  if (!isObj(map)) return maskTree(map, ctx, '');
  for (const [k, v] of Object.entries(map)) if (typeof v === 'string') map[k] = ctx.text.mask(v, 'field', ctx.counts);
  return map;
}

/**
 * A Table row: cells of credential columns whole, others by the text masker; the embedded object (full or
 * PartialObjectMetadata) as an object, then reduced to what the agent asked for.
 */
export function maskRow(row: unknown, ctx: ObjectMaskContext, kindHint?: string, credentialColumns?: readonly boolean[]): unknown {
  if (!isObj(row)) return row;
  if (Array.isArray(row.cells)) {
    row.cells = row.cells.map((c, i) => {
      if (typeof c !== 'string') return c;
      return credentialColumns?.[i] ? markWhole(c, ctx, 'field') : ctx.text.mask(c, 'field', ctx.counts);
    });
  }
  if (row.object !== undefined) row.object = maskObject(row.object, ctx, kindHint);
  return row;
}

/** Cuts a masked row's object down to what the agent asked for in includeObject. */
export function reduceRowObject(row: unknown, include: MaskTarget['tableIncludeObject']): unknown {
  if (!isObj(row) || include === undefined || include === 'Object' || row.object === undefined) return row;
  if (include === 'None') {
    delete row.object;
    return row;
  }
  const metadata = isObj(row.object) && isObj(row.object.metadata) ? row.object.metadata : {};
  row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata };
  return row;
}

function maskSecretFields(secret: Obj, ctx: ObjectMaskContext): void {
  const marker = ctx.text.marker;
  if (isObj(secret.data)) {
    for (const [k, v] of Object.entries(secret.data)) {
      if (typeof v !== 'string') continue;
      if (k === HELM_RELEASE_KEY && isHelmRelease(secret)) {
        const view = helmReleaseView(v, ctx);
        if (view !== undefined) {
          secret.data[k] = view;
          continue;
        }
      }
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

/** A Helm release record masked inside (helm-release.ts), or undefined when it must be masked whole. */
function helmReleaseView(value: string, ctx: ObjectMaskContext): string | undefined {
  const decoded = decodeRelease(value);
  if (!decoded) return undefined;
  const view = maskRelease(decoded, ctx, ctx.text.marker.forDocument(decoded.digest));
  return view && encodeRelease(view);
}

/** Helm's ConfigMap storage driver keeps a release record as base64(gzip) text: masked inside, or whole. */
function maskHelmConfigMapRecord(cm: Obj, ctx: ObjectMaskContext): void {
  const v = isObj(cm.data) && isHelmOwned(cm) ? cm.data[HELM_RELEASE_KEY] : undefined;
  if (typeof v !== 'string' || isMarker(v)) return;
  const view = helmReleaseView(Buffer.from(v, 'latin1').toString('base64'), ctx);
  (cm.data as Obj)[HELM_RELEASE_KEY] = view === undefined ? markWhole(v, ctx, 'configmap') : Buffer.from(view, 'base64').toString('latin1');
}

function maskConfigMapFields(cm: Obj, ctx: ObjectMaskContext): void {
  maskHelmConfigMapRecord(cm, ctx);
  if (isObj(cm.data)) {
    for (const [k, v] of Object.entries(cm.data)) {
      if (typeof v !== 'string') continue;
      if (k === HELM_RELEASE_KEY && isHelmOwned(cm)) continue; // masked below
      // A key named like a credential (DB_PASSWORD) becomes an env var name through envFrom: its value is
      // masked whole, as the same-named env value would be.
      if (envNameIsSecret(k, ctx.rules.envNamePatterns) || fieldNameIsCredential(k)) cm.data[k] = markWhole(v, ctx, 'configmap');
      else cm.data[k] = ctx.text.mask(v, 'configmap', ctx.counts);
    }
  }
  if (isObj(cm.binaryData)) {
    for (const [k, v] of Object.entries(cm.binaryData)) {
      if (typeof v !== 'string') continue;
      let decoded = Buffer.from(v, 'base64');
      // gzip is opened (a gzipped kubeconfig is a kubeconfig): masked inside and compressed again; what
      // cannot be opened, or is not text once opened (a tarball), is masked whole.
      const gzipped = decoded.subarray(0, 2).equals(GZIP_MAGIC);
      if (gzipped) {
        try {
          decoded = gunzipSync(decoded, { maxOutputLength: MAX_GUNZIP_BYTES });
        } catch {
          cm.binaryData[k] = ctx.text.marker.markBase64(Buffer.from(v, 'base64'));
          continue;
        }
      }
      const text = decoded.toString('utf8');
      if (!Buffer.from(text, 'utf8').equals(decoded)) {
        // Binary content cannot be scanned: left as it is, unless it came out of gzip.
        if (gzipped) cm.binaryData[k] = ctx.text.marker.markBase64(Buffer.from(v, 'base64'));
        continue;
      }
      // Masked as the data value it is once decoded (nested documents read, their values scrubbed).
      const own = ValueScrubber.of(collectProtectedValues({ kind: 'ConfigMap', data: { [k]: text } }, ctx.rules, { detectors: true }));
      const masked = ctx.text.withValues(own).mask(text, 'configmap', ctx.counts);
      if (masked !== text) cm.binaryData[k] = (gzipped ? gzipSync(Buffer.from(masked, 'utf8')) : Buffer.from(masked, 'utf8')).toString('base64');
    }
  }
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
/** Largest gzip content opened in a ConfigMap's binaryData. */
const MAX_GUNZIP_BYTES = 8 * 1024 * 1024;

/** A ConfigMap Helm keeps a release record in (its ConfigMap storage driver labels them owner=helm). */
function isHelmOwned(cm: Obj): boolean {
  const meta = isObj(cm.metadata) ? cm.metadata : undefined;
  return isObj(meta?.labels) && meta.labels.owner === 'helm';
}

function maskMetadata(meta: unknown, ctx: ObjectMaskContext, kind: string | undefined): void {
  if (!isObj(meta)) return;
  if (isObj(meta.annotations)) {
    const ann = meta.annotations;
    for (const [k, v] of Object.entries(ann)) {
      if (typeof v !== 'string') continue;
      ann[k] = k === LAST_APPLIED ? maskLastApplied(v, ctx, kind) : ctx.text.mask(v, 'annotation', ctx.counts);
    }
  }
  // Labels are never rewritten in part (selectors read them); one holding a known secret value is replaced whole.
  if (isObj(meta.labels)) {
    for (const [k, v] of Object.entries(meta.labels)) {
      if (typeof v === 'string' && ctx.text.containsKnown(v)) meta.labels[k] = markWhole(v, ctx, 'field');
    }
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

/** Generic walk below an object's top level: env-like lists, credential fields, every other string. */
function maskTree(node: unknown, ctx: ObjectMaskContext, key: string): unknown {
  if (typeof node === 'string') return fieldNameIsCredential(key) ? markWhole(node, ctx, 'field') : ctx.text.mask(node, 'field', ctx.counts);
  if (Array.isArray(node)) {
    const env = isEnvLike(node);
    for (let i = 0; i < node.length; i++) {
      const el = node[i];
      if (env && isObj(el) && typeof el.name === 'string') maskEnvEntry(el, ctx);
      else node[i] = maskTree(el, ctx, isObj(el) ? '' : key);
    }
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
    node[k] = maskTree(v, ctx, k);
  }
  return node;
}

/** {name, value, valueFrom, ...}: the value by its name; valueFrom and the name as they are; other fields walked. */
function maskEnvEntry(e: Obj, ctx: ObjectMaskContext): void {
  const name = e.name as string;
  for (const [k, v] of Object.entries(e)) {
    if (k === 'name' || k === 'valueFrom') continue;
    if (k === 'value' && typeof v === 'string') {
      e.value = envNameIsSecret(name, ctx.rules.envNamePatterns) ? markWhole(v, ctx, 'env') : ctx.text.mask(v, 'env', ctx.counts);
      continue;
    }
    e[k] = maskTree(v, ctx, k);
  }
}
