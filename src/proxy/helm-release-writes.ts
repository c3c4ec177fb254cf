// Helm writes its release records back with what it read through the proxy: a masked view (upgrade
// --reuse-values copies the masked config, rollback copies a whole masked revision, and every upgrade
// rewrites the previous record to mark it superseded). Stored as sent, the records would hold markers in
// place of the real values. So before such a write is judged, every marker in it is mapped back:
//  - markers of the release's own views (DocumentMarker, helm-release.ts) to the values they stand for,
//    found by making the views of the release's stored revisions again;
//  - a marker left in a manifest's Secret (a chart that `lookup`s its own Secret read it masked) to the
//    live Secret's value at the same field, when that Secret is this release's and this agent created it.
// A marker that maps to nothing refuses the write (nothing is lost), and so does a write whose record, as
// any reader will see it, would show a value put back (in any spelling).
import { decodeRelease, encodeRelease, HELM_RELEASE_KEY, HELM_RELEASE_TYPE, isHelmRelease, isMarker, MARKER_PREFIX, MIN_KNOWN_VALUE_LENGTH, type MaskerFactory } from '../masking/index.js';
import { chartFiles, dumpManifestDoc, leadingComments, parseManifestDoc, releaseRecord, splitManifest } from '../masking/helm-release.js';
import { markerSpans } from '../masking/marker.js';
import { byteForms } from '../masking/value-forms.js';
import type { ResolvedMasking } from '../policy/types.js';
import { isObj, STRICTEST_MASKING } from './context.js';
import { probeFailed, type Obj, type ProbeContext, type ProbeFailure } from './dryrun.js';
import { keepLiveValues } from './placeholders.js';
import { creatorOf } from './provenance.js';
import { protobufSecret, withProtobufSecretData } from './protobuf-meta.js';
import type { RequestInfo } from './request-info.js';
import { kubeStatus, type KubeStatus } from './status.js';

/** base64 of "airlock-masked:sha256" (21 bytes: 28 characters), then ":" and 8 hex digits (12 characters). */
const BASE64_MARKER_PREFIX = 'YWlybG9jay1tYXNrZWQ6c2hhMjU2';
const BASE64_MARKER = new RegExp(`${BASE64_MARKER_PREFIX}[A-Za-z0-9+/]{12}`, 'g');
/**
 * What every policy that masks Secrets masks at least: a restored value must stay hidden from the weakest
 * view of the record a reader could get (markers are learned under the strictest, which issues the most).
 */
const LEAST_MASKING: ResolvedMasking = { ...STRICTEST_MASKING, configMaps: false };
/** Revisions of one release looked at, newest first (Helm keeps 10 by default), and their decompressed bytes at most. */
const MAX_SOURCE_REVISIONS = 16;
const MAX_SOURCE_BYTES = 16 * 1024 * 1024;

type Resolve = (marker: string) => Buffer | undefined;
type LiveSecret = (namespace: string, name: string) => Promise<Obj | undefined>;
/** Where a mapping back reports each value it put in the record (the check must not find it shown). */
type Inserted = (value: Buffer) => void;

export type ReleaseWrite = { body: Obj } | { refuse: KubeStatus } | ProbeFailure;

/** Whether a request writes a Secret or ConfigMap (create or update), where a Helm release record may be. */
export function writesSecret(info: RequestInfo, method: string): boolean {
  return info.apiGroup === '' && (info.resource === 'secrets' || info.resource === 'configmaps') && !info.subresource && (method === 'POST' || method === 'PUT');
}

/**
 * Helm's ConfigMap storage driver (HELM_DRIVER=configmap): its records are masked on reads like the Secret
 * driver's, but one written back holding markers is refused (mapping back is done for the default driver).
 */
function refuseConfigMapRecord(info: RequestInfo, body: unknown): { refuse: KubeStatus } | undefined {
  let value: string | undefined;
  if (Buffer.isBuffer(body)) value = protobufSecret(body, 'ConfigMap')?.data.get(HELM_RELEASE_KEY)?.toString('latin1');
  else if (isObj(body) && isObj(body.data) && typeof body.data[HELM_RELEASE_KEY] === 'string') value = body.data[HELM_RELEASE_KEY];
  const decoded = value !== undefined ? decodeRelease(Buffer.from(value, 'latin1').toString('base64')) : undefined;
  if (!decoded || markersIn(decoded.release).size === 0) return undefined;
  return refuse(`it is kept by Helm's ConfigMap storage driver, whose records read through the proxy are not mapped back; use the default Secret driver (${info.path})`);
}

/**
 * A Secret write's body (JSON, or protobuf as Helm's storage driver sends it) with a Helm release record's
 * markers mapped back; any other Secret as it is.
 */
export async function restoreReleaseBody(probe: ProbeContext, info: RequestInfo, body: unknown, masker: MaskerFactory | undefined): Promise<{ body: unknown } | { refuse: KubeStatus } | ProbeFailure> {
  if (info.resource === 'configmaps') return refuseConfigMapRecord(info, body) ?? { body };
  if (Buffer.isBuffer(body)) {
    const secret = protobufSecret(body);
    const raw = secret?.data.get(HELM_RELEASE_KEY);
    if (!secret || !raw || secret.type !== HELM_RELEASE_TYPE) return { body };
    const asJson: Obj = { type: secret.type, data: { [HELM_RELEASE_KEY]: raw.toString('base64') } };
    const res = await restoreReleaseWrite(probe, info, asJson, masker);
    if (!('body' in res)) return res;
    if (res.body === asJson) return { body };
    const spliced = withProtobufSecretData(body, HELM_RELEASE_KEY, Buffer.from((res.body.data as Obj)[HELM_RELEASE_KEY] as string, 'base64'));
    return spliced ? { body: spliced } : refuse('its protobuf body cannot be rewritten');
  }
  if (!isObj(body) || !isHelmRelease(body) || !isObj(body.data) || typeof body.data[HELM_RELEASE_KEY] !== 'string') return { body };
  return restoreReleaseWrite(probe, info, body, masker);
}

/** The record with every marker mapped back, or a refusal; the body as it is when it holds no marker. */
export async function restoreReleaseWrite(probe: ProbeContext, info: RequestInfo, secret: Obj, masker: MaskerFactory | undefined): Promise<ReleaseWrite> {
  const decoded = decodeRelease((secret.data as Obj)[HELM_RELEASE_KEY]);
  const wanted = decoded ? markersIn(decoded.release) : new Set<string>();
  if (!decoded || wanted.size === 0) return { body: secret };
  if (!masker?.releaseMarkers || !masker.releaseView) return refuse('masking cannot map the markers in it back');
  const namespace = info.namespace ?? '';
  const sources = await storedRevisions(probe, namespace, String(decoded.release.name));
  if (probeFailed(sources)) return sources;
  // Newest revision first, until every marker in the record maps to a value (each view costs time linear in
  // its record; an upgrade's markers come from the newest, a rollback's from the one rolled back to).
  const values = new Map<string, Buffer>();
  let opened = 0;
  for (const source of sources.value) {
    if ([...wanted].every((m) => values.has(m))) break;
    const d = decodeRelease(source);
    // Bounded by what is opened (decompressed), not by what is stored: gzip makes a 20 KB record 4 MB.
    if (!d || (opened += d.bytes) > MAX_SOURCE_BYTES) break;
    for (const [m, v] of masker.releaseMarkers(d, STRICTEST_MASKING)) values.set(m, v);
  }
  // A manifest Secret's live value is taken only from a Secret of this release that this agent created
  // (the proxy stamps the creator and never lets it change): a chart looking up its own Secret.
  const releaseName = String(decoded.release.name);
  const restoredValues: Buffer[] = [];
  const live: LiveSecret = async (ns, name) => {
    if (ns !== namespace) return undefined;
    const res = await probe.up.json('GET', `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets/${encodeURIComponent(name)}`, probe.identity, undefined, { endBy: probe.endBy });
    if (res.status !== 200 || !isObj(res.body)) return undefined;
    const meta = isObj(res.body.metadata) ? res.body.metadata : {};
    const annotations = isObj(meta.annotations) ? meta.annotations : {};
    const ours = creatorOf(res.body) === probe.user.username && annotations['meta.helm.sh/release-name'] === releaseName && annotations['meta.helm.sh/release-namespace'] === namespace;
    return ours ? res.body : undefined;
  };
  const resolve: Resolve = (m) => {
    const v = values.get(m);
    if (v) restoredValues.push(v);
    return v;
  };

  const restored = await restoreRelease(decoded.release, resolve, namespace, live, (v) => restoredValues.push(v));
  if ('unresolved' in restored) return refuse(`it holds a masked placeholder at ${restored.unresolved} that stands for no value of this release`);
  // The record as any reader will see it (the weakest masking a policy gives) must show none of the values
  // put back, in any spelling: exactly the view that will be served, not a model of it.
  const view = masker.releaseView(releaseRecord(restored.release), LEAST_MASKING);
  if (view && showsAny(view, restoredValues)) return refuse('it would place a protected value where the record shows it unmasked');
  return { body: { ...secret, data: { ...(secret.data as Obj), [HELM_RELEASE_KEY]: encodeRelease(restored.release) } } };
}

/** Whether any value appears in the view, in any spelling, with its manifests read as YAML and its chart files decoded. */
function showsAny(view: Obj, values: readonly Buffer[]): boolean {
  const texts: string[] = [];
  const walk = (v: unknown, key = ''): void => {
    if (typeof v === 'string') {
      texts.push(v);
      if (key === 'manifest') {
        for (const doc of splitManifest(v)) {
          try {
            walk(parseManifestDoc(doc));
          } catch {
            // unreadable documents are searched as text (above)
          }
        }
      }
    } else if (Array.isArray(v)) v.forEach((x) => walk(x));
    else if (isObj(v)) for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(view);
  for (const f of chartFiles(view)) texts.push(chartFileText(f));
  // Spellings of the bytes themselves: a value that is not UTF-8 (a key) has no text form to search for.
  const forms = new Set<string>();
  for (const v of values) {
    if (v.length === 0) continue;
    if (v.length >= MIN_KNOWN_VALUE_LENGTH) for (const f of byteForms(v)) forms.add(f);
    else for (const f of [v.toString('utf8'), v.toString('base64').replace(/=+$/, ''), v.toString('base64url'), v.toString('hex')]) forms.add(f);
  }
  return texts.some((t) => [...forms].some((f) => t.includes(f)));
}

function refuse(why: string): { refuse: KubeStatus } {
  return { refuse: kubeStatus(403, `airlock: this Helm release record cannot be stored: ${why}. Masked values are never written back; re-run the command with the real values (e.g. --set) instead of --reuse-values`, 'Forbidden') };
}

/** The data values of the release's newest stored revisions, listed as the agent (its records in this namespace). */
async function storedRevisions(probe: ProbeContext, namespace: string, name: string): Promise<{ value: string[] } | ProbeFailure> {
  const q = new URLSearchParams({ labelSelector: `owner=helm,name=${name}`, limit: '500' });
  const res = await probe.up.json('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets?${q.toString()}`, probe.identity, undefined, { endBy: probe.endBy });
  if (res.status >= 400 || !isObj(res.body)) return { failed: res };
  const items = (Array.isArray(res.body.items) ? res.body.items : []).filter((it): it is Obj => isObj(it) && isHelmRelease(it) && isObj(it.data) && typeof it.data[HELM_RELEASE_KEY] === 'string');
  const version = (it: Obj) => Number((isObj(it.metadata) && isObj(it.metadata.labels) ? it.metadata.labels.version : undefined) ?? 0) || 0;
  items.sort((a, b) => version(b) - version(a));
  return { value: items.slice(0, MAX_SOURCE_REVISIONS).map((it) => (it.data as Obj)[HELM_RELEASE_KEY] as string) };
}

/** A chart file's bytes as text (a binary one's lost bytes cannot hold a marker or a value put back as text). */
function chartFileText(f: { holder: Obj; key: string }): string {
  return Buffer.from(f.holder[f.key] as string, 'base64').toString('utf8');
}

/** Every marker a record holds (plain or base64, chart files decoded). */
function markersIn(release: Obj): Set<string> {
  const out = new Set<string>();
  const scan = (text: string) => {
    for (const [a, b] of markerSpans(text)) out.add(text.slice(a, b));
    for (const token of text.match(BASE64_MARKER) ?? []) {
      const m = Buffer.from(token, 'base64').toString('utf8');
      if (isMarker(m)) out.add(m);
    }
  };
  scan(JSON.stringify(release));
  for (const f of chartFiles(release)) scan(chartFileText(f));
  return out;
}

/** Reports every string of `after` that differs from `before` at the same place (the values put in), decoded when in a Secret's data. */
function reportChanged(before: unknown, after: unknown, inserted: Inserted, base64 = false): void {
  if (typeof after === 'string') {
    if (after !== before) inserted(base64 ? Buffer.from(after, 'base64') : Buffer.from(after, 'utf8'));
  } else if (Array.isArray(after)) after.forEach((v, i) => reportChanged(Array.isArray(before) ? before[i] : undefined, v, inserted, base64));
  else if (isObj(after)) for (const [k, v] of Object.entries(after)) reportChanged(isObj(before) ? before[k] : undefined, v, inserted, base64 || (after.kind === 'Secret' && k === 'data'));
}

/** Thrown through the walk when a marker maps to nothing. */
class Unresolved extends Error {}

/** Every marker in a string, plain or base64 (a Secret data value in a manifest), mapped back. */
function restoreString(s: string, resolve: Resolve): string {
  let out = s;
  if (out.includes(MARKER_PREFIX)) {
    let next = '';
    let at = 0;
    for (const [a, b] of markerSpans(out)) {
      const v = resolve(out.slice(a, b));
      if (!v) throw new Unresolved(out.slice(a, b));
      next += out.slice(at, a) + v.toString('utf8');
      at = b;
    }
    out = next + out.slice(at);
  }
  return out.replace(BASE64_MARKER, (token) => {
    const m = Buffer.from(token, 'base64').toString('utf8');
    if (!isMarker(m)) return token;
    const v = resolve(m);
    if (!v) throw new Unresolved(m);
    return v.toString('base64');
  });
}

function restoreTree(node: unknown, resolve: Resolve): unknown {
  if (typeof node === 'string') return restoreString(node, resolve);
  if (Array.isArray(node)) return node.map((n) => restoreTree(n, resolve));
  if (!isObj(node)) return node;
  const out: Obj = {};
  for (const [k, v] of Object.entries(node)) out[k] = restoreTree(v, resolve);
  return out;
}

/** A copy of the release with its markers mapped back, or where the first one that maps to nothing is. */
async function restoreRelease(release: Obj, resolve: Resolve, namespace: string, live: LiveSecret, inserted: Inserted): Promise<{ release: Obj } | { unresolved: string }> {
  const out = structuredClone(release);
  const at = (where: string, fn: () => void): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (err) {
      if (err instanceof Unresolved) return where;
      throw err;
    }
  };
  const holders: Obj[] = [out, ...(Array.isArray(out.hooks) ? out.hooks.filter(isObj) : [])];
  for (const h of holders) {
    if (typeof h.manifest !== 'string') continue;
    const docs = splitManifest(h.manifest);
    for (let i = 0; i < docs.length; i++) {
      const restored = await restoreDoc(docs[i]!, resolve, namespace, live, inserted);
      if (typeof restored !== 'string') return { unresolved: `manifest document ${i}${restored.unresolved ? ` (${restored.unresolved})` : ''}` };
      docs[i] = restored;
    }
    h.manifest = docs.join('---');
  }
  for (const f of chartFiles(out)) {
    const text = chartFileText(f);
    if (!text.includes(MARKER_PREFIX)) continue;
    const miss = at(`chart file ${String(f.holder.name ?? f.key)}`, () => (f.holder[f.key] = Buffer.from(restoreString(text, resolve), 'utf8').toString('base64')));
    if (miss) return { unresolved: miss };
  }
  // Every other field, of the release, its hooks and its chart (manifests and chart files are done above).
  const others: Array<[Obj, readonly string[], string]> = [
    [out, ['manifest', 'hooks', 'chart'], ''],
    ...(Array.isArray(out.hooks) ? out.hooks.filter(isObj) : []).map((h, i): [Obj, readonly string[], string] => [h, ['manifest'], `hooks[${i}].`]),
    ...(isObj(out.chart) ? [[out.chart, ['templates', 'files', 'schema'], 'chart.'] as [Obj, readonly string[], string]] : []),
  ];
  for (const [holder, skip, where] of others) {
    for (const k of Object.keys(holder)) {
      if (skip.includes(k)) continue;
      const miss = at(`${where}${k}`, () => (holder[k] = restoreTree(holder[k], resolve)));
      if (miss) return { unresolved: miss };
    }
  }
  return { release: out };
}

/** One manifest document with its markers mapped back (a Secret's from the live Secret when not otherwise). */
async function restoreDoc(doc: string, resolve: Resolve, namespace: string, live: LiveSecret, inserted: Inserted): Promise<string | { unresolved?: string }> {
  if (!doc.includes(MARKER_PREFIX) && !doc.includes(BASE64_MARKER_PREFIX)) return doc;
  let obj: Obj | null;
  try {
    obj = parseManifestDoc(doc);
  } catch {
    return {};
  }
  if (!obj) return doc;
  const { comments } = leadingComments(doc);
  let restored: Obj;
  try {
    restored = restoreTree(obj, resolve) as Obj;
  } catch (err) {
    if (!(err instanceof Unresolved)) throw err;
    const meta = isObj(obj.metadata) ? obj.metadata : {};
    if (obj.kind !== 'Secret' || typeof meta.name !== 'string') return {};
    const ns = typeof meta.namespace === 'string' ? meta.namespace : namespace;
    const current = await live(ns, meta.name);
    // What the other markers map to first; then each remaining one is the live value at its field.
    const partly = restoreTree(obj, (m) => resolve(m) ?? Buffer.from(m, 'utf8')) as Obj;
    const beforeLive = structuredClone(partly);
    // stringData is written, data is what is stored: a stringData placeholder stands for the live data value.
    if (current && isObj(partly.stringData) && isObj(current.data)) {
      for (const [k, v] of Object.entries(partly.stringData)) {
        const stored = current.data[k];
        if (typeof v === 'string' && isMarker(v) && typeof stored === 'string') partly.stringData[k] = Buffer.from(stored, 'base64').toString('utf8');
      }
    }
    const kept = current ? keepLiveValues(partly, current) : { unresolved: 'data' };
    if ('unresolved' in kept) return { unresolved: `Secret ${ns}/${meta.name} ${kept.unresolved}` };
    reportChanged(beforeLive, kept.object, inserted);
    restored = kept.object;
  }
  return dumpManifestDoc(doc, comments, restored);
}
