// Helm release records, masked so Helm still works. Helm 3 keeps each revision of a release in a Secret of
// type helm.sh/release.v1 whose data.release is base64(gzip(JSON release)); the release holds the rendered
// manifest (Secret manifests with their values), the user's values (config), the chart (values, templates,
// files) and hooks. Masking the whole data value (what any other Secret gets) breaks every Helm command
// after install. Instead the record is decoded and its secrets are masked inside it:
//  - every manifest document (and hook manifest) is masked as the object it is (Secret data and stringData,
//    credential env values, ConfigMap credential keys, ...), and the values those objects protect are
//    scrubbed from every other string of the release (notes, config, chart values, templates);
//  - config and chart values are masked as any object is (credential-named keys whole, secret shapes);
//  - markers come from a DocumentMarker bound to the stored record's digest, so the proxy can map them back
//    when Helm writes the record again (helm-release-writes.ts), and never link values (marker.ts);
//  - a last check: none of the protected values may be left anywhere in the view; if one is, or if
//    anything in the record cannot be read safely, the record is masked whole like any Secret value.
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import yaml from 'js-yaml';
import type { ResolvedMasking } from '../policy/types.js';
import { nestsDeeperThan } from './depth.js';
import type { MaskCounts, TextMasker } from './detectors.js';
import { parseJson } from './json-parse.js';
import type { DocumentMarker } from './marker.js';
import { maskObject, type ObjectMaskContext } from './object-mask.js';
import { collectProtectedValues, decodeBase64Text, isObj } from './protected-values.js';
import { ValueScrubber } from './value-scrubber.js';

export const HELM_RELEASE_TYPE = 'helm.sh/release.v1';
/** The data key Helm keeps the record under. */
export const HELM_RELEASE_KEY = 'release';
/** Largest decompressed record looked into (a Secret holds at most 1 MiB; larger views cost seconds). */
const MAX_RELEASE_BYTES = 8 * 1024 * 1024;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);

type Obj = Record<string, unknown>;

export interface DecodedRelease {
  release: Obj;
  /** Size of the record's JSON, decompressed. */
  bytes: number;
  /** The context of the record's markers: a digest of its content (contextDigest), made when first asked. */
  readonly digest: string;
  /** A manifest document of this record as an object (parseManifestDoc), parsed once however often asked; never mutate it. */
  parse(doc: string): Obj | null;
}

/** A release as a DecodedRelease: its documents parsed once, its digest made when first asked. */
export function releaseRecord(release: Obj, bytes = 0): DecodedRelease {
  const parsed = new Map<string, Obj | null | Error>();
  const parse = (doc: string): Obj | null => {
    let r = parsed.get(doc);
    if (r === undefined) {
      try {
        r = parseManifestDoc(doc);
      } catch (err) {
        r = err as Error;
      }
      parsed.set(doc, r);
    }
    if (r instanceof Error) throw r;
    return r;
  };
  let digest: string | undefined;
  return { release, bytes, parse, get digest() { return (digest ??= contextDigest(release, parse)); } };
}

/** What Helm rewrites in a record without changing its content (marking the previous revision superseded). */
const LIFECYCLE_FIELDS = ['status', 'last_deployed', 'deleted'] as const;

/**
 * sha256 of the release's content: without its lifecycle fields, and with each manifest as the objects it
 * holds rather than their text. Helm rewrites a revision (superseded, re-marshalled, with the documents
 * this view re-wrote) while it still holds markers of that revision's view, which must keep mapping back;
 * any change of a value, a note or an object gives another digest, so markers under it are unrelated.
 */
function contextDigest(release: Obj, parse: DecodedRelease['parse']): string {
  const info = isObj(release.info) ? { ...release.info } : undefined;
  if (info) for (const k of LIFECYCLE_FIELDS) delete info[k];
  const content: Obj = { ...release, ...(info ? { info } : {}) };
  const objects = (manifest: string): unknown[] =>
    splitManifest(manifest).map((doc) => {
      try {
        return parse(doc);
      } catch {
        return doc; // the text of a document that cannot be read
      }
    });
  if (typeof release.manifest === 'string') content.manifest = objects(release.manifest);
  if (Array.isArray(release.hooks)) content.hooks = release.hooks.map((h) => (isObj(h) && typeof h.manifest === 'string' ? { ...h, manifest: objects(h.manifest) } : h));
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

/** A Secret's data.release value (as the API shows it: base64) decoded to the release, or undefined. */
export function decodeRelease(dataValue: unknown): DecodedRelease | undefined {
  if (typeof dataValue !== 'string' || dataValue.length === 0) return undefined;
  try {
    const inner = Buffer.from(dataValue, 'base64').toString('latin1');
    let bytes = Buffer.from(inner, 'base64');
    if (bytes.subarray(0, 3).equals(GZIP_MAGIC)) bytes = gunzipSync(bytes, { maxOutputLength: MAX_RELEASE_BYTES });
    if (bytes.length > MAX_RELEASE_BYTES) return undefined;
    const release = parseJson(bytes.toString('utf8'));
    if (!isObj(release) || typeof release.name !== 'string' || nestsDeeperThan(release)) return undefined;
    return releaseRecord(release, bytes.length);
  } catch {
    return undefined;
  }
}

/** The data value for a release, as Helm writes it (gzip, base64), base64 again for the Secret's data. */
export function encodeRelease(release: Obj): string {
  // The fastest level: a view is made on every read, and its size matters little.
  const inner = gzipSync(Buffer.from(JSON.stringify(release), 'utf8'), { level: 1 }).toString('base64');
  return Buffer.from(inner, 'latin1').toString('base64');
}

/** Whether a Secret is a Helm release record. */
export function isHelmRelease(secret: Obj): boolean {
  return secret.type === HELM_RELEASE_TYPE;
}

// ---- manifests ----

/** A manifest split the way Helm splits it: documents separated by "---" lines. */
export function splitManifest(manifest: string): string[] {
  return manifest.split(/^---[ \t]*$/m);
}

/** YAML anchors and aliases: shared nodes a walker would visit again and again; not in rendered manifests. */
const ANCHOR_OR_ALIAS = /(^|[\s:,[{-])[&*][^\s,\]}]/m;

/** The object a manifest document holds (null for an empty one); throws when it cannot be read safely. */
export function parseManifestDoc(doc: string): Obj | null {
  if (ANCHOR_OR_ALIAS.test(doc)) throw new Error('YAML anchors or aliases');
  const value = yaml.load(doc, { schema: yaml.CORE_SCHEMA, json: true });
  if (value === null || value === undefined) return null;
  if (!isObj(value) || nestsDeeperThan(value)) throw new Error('not an object');
  return value;
}

/** The comment lines before a document's content ("# Source: chart/templates/x.yaml"). */
export function leadingComments(doc: string): { comments: string; body: string } {
  const m = /^(?:[ \t]*(?:#[^\n]*)?\n)*/.exec(doc);
  const head = m ? m[0] : '';
  return { comments: head, body: doc.slice(head.length) };
}

/** A document written back: its comments as they were, then the object. */
export function dumpManifestDoc(original: string, comments: string, obj: Obj): string {
  const lead = original.startsWith('\n') || comments.startsWith('\n') ? '' : '\n';
  return `${lead}${comments}${yaml.dump(obj, { lineWidth: -1, noRefs: true, sortKeys: false })}`;
}

/** Every manifest string of a release: the rendered manifest and each hook's. */
function manifestHolders(release: Obj): Array<{ holder: Obj; key: 'manifest' }> {
  const out: Array<{ holder: Obj; key: 'manifest' }> = [];
  if (typeof release.manifest === 'string') out.push({ holder: release, key: 'manifest' });
  if (Array.isArray(release.hooks)) for (const h of release.hooks) if (isObj(h) && typeof h.manifest === 'string') out.push({ holder: h, key: 'manifest' });
  return out;
}

/** The chart's byte fields (templates, files, schema): base64 in the record. */
export function chartFiles(release: Obj): Array<{ holder: Obj; key: string }> {
  const chart = isObj(release.chart) ? release.chart : undefined;
  if (!chart) return [];
  const out: Array<{ holder: Obj; key: string }> = [];
  for (const list of [chart.templates, chart.files]) {
    if (Array.isArray(list)) for (const f of list) if (isObj(f) && typeof f.data === 'string') out.push({ holder: f, key: 'data' });
  }
  if (typeof chart.schema === 'string') out.push({ holder: chart, key: 'schema' });
  return out;
}

// ---- the agent's view ----

/** Every value the release protects: what its objects protect, its config's and chart values' credentials. */
function releaseProtectedValues(release: Obj, rules: ResolvedMasking, parse: DecodedRelease['parse']): Set<string> {
  const out = new Set<string>();
  const add = (vs: Set<string>) => vs.forEach((v) => out.add(v));
  for (const { holder, key } of manifestHolders(release)) {
    for (const doc of splitManifest(holder[key] as string)) {
      const obj = parse(doc);
      if (obj) add(collectProtectedValues(obj, rules, { detectors: true }));
    }
  }
  add(collectProtectedValues(release.config ?? {}, rules, { detectors: true }));
  if (isObj(release.chart)) add(collectProtectedValues(release.chart.values ?? {}, rules, { detectors: true }));
  return out;
}

/**
 * The release as the agent may see it (a masked copy), or undefined when it cannot be masked here (then
 * the caller masks the record whole). `marker` is the record's DocumentMarker.
 */
export function maskRelease(decoded: DecodedRelease, base: { text: TextMasker; rules: ResolvedMasking; counts: MaskCounts }, marker: DocumentMarker): Obj | undefined {
  const release = structuredClone(decoded.release);
  let values: Set<string>;
  try {
    values = releaseProtectedValues(release, base.rules, decoded.parse);
  } catch {
    return undefined; // a manifest document that cannot be read safely
  }
  const scrubber = ValueScrubber.of(values);
  const ctx: ObjectMaskContext = { text: base.text.withMarker(marker).withValues(scrubber), rules: base.rules, counts: base.counts };
  const maskText = (s: string) => ctx.text.mask(s, 'field', ctx.counts);

  for (const { holder, key } of manifestHolders(release)) holder[key] = maskManifest(holder[key] as string, ctx, decoded.parse);
  if (release.config !== undefined) release.config = maskObject(release.config, ctx);
  if (isObj(release.chart)) {
    if (release.chart.values !== undefined) release.chart.values = maskObject(release.chart.values, ctx);
    for (const { holder, key } of chartFiles(release)) {
      const text = decodeBase64Text(holder[key] as string);
      if (text !== undefined) {
        const masked = maskText(text);
        if (masked !== text) holder[key] = Buffer.from(masked, 'utf8').toString('base64');
      }
    }
  }
  if (isObj(release.info)) {
    for (const k of ['notes', 'description'] as const) if (typeof release.info[k] === 'string') release.info[k] = maskText(release.info[k]);
  }
  return leaksAny(release, scrubber) ? undefined : release;
}

/** Each document masked as the object it is; documents with nothing to mask keep their exact text. */
function maskManifest(manifest: string, ctx: ObjectMaskContext, parse: DecodedRelease['parse']): string {
  return splitManifest(manifest)
    .map((doc) => {
      const parsed = parse(doc);
      if (!parsed) return ctx.text.mask(doc, 'field', ctx.counts);
      const obj = structuredClone(parsed); // masked in place; the parsed one is shared
      const before = JSON.stringify(obj);
      const masked = maskObject(obj, ctx) as Obj;
      if (JSON.stringify(masked) === before) {
        // Nothing in the object to mask: the text is kept, comments masked, as long as it still reads the same.
        const text = ctx.text.mask(doc, 'field', ctx.counts);
        if (text === doc || sameObject(text, before)) return text;
      }
      const { comments } = leadingComments(doc);
      return dumpManifestDoc(doc, ctx.text.mask(comments, 'field', ctx.counts), masked);
    })
    .join('---');
}

function sameObject(doc: string, json: string): boolean {
  try {
    return JSON.stringify(parseManifestDoc(doc)) === json;
  } catch {
    return false;
  }
}

/** Whether any protected value is left in the view (in any spelling, chart files decoded). */
function leaksAny(view: Obj, scrubber: ValueScrubber | undefined): boolean {
  if (!scrubber) return false;
  if (scrubber.contains(JSON.stringify(view))) return true;
  return chartFiles(view).some(({ holder, key }) => {
    const text = decodeBase64Text(holder[key] as string);
    return text !== undefined && scrubber.contains(text);
  });
}

// ---- mapping markers back ----

/** How many markings of one value are mapped back (a value marked more often than this is not). */
const MAX_MARKINGS_PER_VALUE = 64;

/**
 * Every marker the agent's view of a stored record can carry, with the value it stands for: the view is
 * made again under the strictest rules (a superset of what any policy masks), and each value's markers are
 * extended to MAX_MARKINGS_PER_VALUE markings (so a view made under other rules maps back too).
 */
export function issuedMarkers(decoded: DecodedRelease, base: { text: TextMasker; rules: ResolvedMasking }, marker: DocumentMarker): Map<string, Buffer> {
  maskRelease(decoded, { ...base, counts: {} }, marker);
  const out = new Map<string, Buffer>();
  const values = new Map<string, Buffer>();
  for (const v of marker.issued.values()) values.set(v.toString('latin1'), v);
  for (const v of values.values()) for (let n = 0; n < MAX_MARKINGS_PER_VALUE; n++) out.set(marker.markerFor(v, n), v);
  return out;
}
