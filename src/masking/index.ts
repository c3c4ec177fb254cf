// Response masking for agents: the MaskerFactory the proxy uses (contract: ./types.ts).
import { createHash, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { TextMasker, type MaskCounts } from './detectors.js';
import { JsonMaskStream, type JsonUnitMasker, type UnitRole } from './json-stream.js';
import { LogMaskStream } from './logs.js';
import { ExecKnownValues, ExecOutputMasker } from './exec-output.js';
import { Marker, type MarkerMode } from './marker.js';
import { issuedMarkers, maskRelease } from './helm-release.js';
import { kindForResource, maskObject, type ObjectMaskContext } from './object-mask.js';
import { credentialColumnsOf } from './protected-values.js';
import { maskUnit } from './unit-mask.js';
import { ValueScrubber } from './value-scrubber.js';
import type { MaskTarget, MaskerFactory } from './types.js';
import { applyView, HIDDEN, type ObjectView } from './views.js';

export type { ExecOutputMaskers, MaskTarget, MaskerFactory } from './types.js';
export { Marker, MARKER_PREFIX, isMarker, maskingKeyFromEnv, type MarkerMode } from './marker.js';
export { detectors, detectRegions, TextMasker, type Detector, type MaskCounts, type MaskKind, type TextMaskerOptions } from './detectors.js';
export { JsonMaskStream, JsonMaskingError, DEFAULT_MAX_UNIT_BYTES, DEFAULT_MAX_RESPONSE_BYTES, type JsonUnitMasker, type UnitRole } from './json-stream.js';
export { LogMaskStream, LogLineMasker, DEFAULT_MAX_LINE_BYTES } from './logs.js';
export { ExecKnownValues, ExecOutputMasker, FRAGMENT_CHARS, HOLD_MIN_CHARS, TooManyValues } from './exec-output.js';
export { maskObject, maskRow, reduceRowObject, kindForResource, type ObjectMaskContext } from './object-mask.js';
export { envNameIsSecret, envNameIsCredential, fieldNameIsCredential, columnNameIsCredential } from './credential-names.js';
export { protectedValuesOf, type ProtectedValuesOptions } from './protected-values.js';
export { maskUnit, scrubKnownValues, type UnitShape } from './unit-mask.js';
export { ValueScrubber } from './value-scrubber.js';
export { NeedleMatcher, type ScanStats } from './aho-corasick.js';
export { MIN_KNOWN_VALUE_LENGTH, valueForms } from './value-forms.js';
export { parseJson } from './json-parse.js';
export { applyView, HIDDEN, type ObjectView } from './views.js';
export { decodeRelease, encodeRelease, isHelmRelease, HELM_RELEASE_KEY, HELM_RELEASE_TYPE, type DecodedRelease } from './helm-release.js';

/** Subresources that are not object responses (streams): masking does not apply to them here. */
const STREAM_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'proxy']);

/** Exec targets whose value automata are kept (least recently used dropped first). */
const EXEC_VALUES_CACHE = 16;

/** Stored Helm revisions whose markers are kept (least recently used dropped first). */
const RELEASE_MARKER_CACHE = 32;

export interface MaskerFactoryOptions {
  /** HMAC key for markers (>= 16 bytes): the installation's (src/operator/masking-key.ts, or AIRLOCK_MASKING_KEY via src/main/config.ts). Default: random (tests). */
  key?: Buffer;
  /** Largest single unit (one object, list item or watch event) the JSON masker holds. */
  maxUnitBytes?: number;
  /** Longest log line held before it is masked in pieces. */
  maxLineBytes?: number;
  /**
   * Most bytes one response may carry through the JSON masker (fail closed beyond it; default
   * DEFAULT_MAX_RESPONSE_BYTES). Watches are unbounded in total (each event is bounded by maxUnitBytes).
   */
  maxResponseBytes?: number;
  /** stable (default: equal values, equal markers) or unlinkable (salted per marker: for agents; see marker.ts). */
  markers?: MarkerMode;
  /** Exact values to mask as well (e.g. the values of the Secrets a pod references). */
  extraValues?: (target: MaskTarget) => readonly string[];
  /** Where masked values are counted (default: a registry of the factory's own). */
  metrics?: Pick<Metrics, 'maskedValuesTotal'>;
}

/** Adds one response's counts to airlock_masked_values_total. */
export function countsRecorder(metrics: Pick<Metrics, 'maskedValuesTotal'>): (counts: MaskCounts) => void {
  return (counts) => {
    for (const [kind, n] of Object.entries(counts)) if (n) metrics.maskedValuesTotal.inc({ kind }, n);
  };
}

/**
 * Unit masker for the JSON stream: knows the request's resource for objects that carry no kind, and a
 * Table's credential columns (columnDefinitions come before the rows).
 */
export function unitMasker(ctx: ObjectMaskContext, resource: string | undefined, view: ObjectView | undefined, recordCounts: (counts: MaskCounts) => void): JsonUnitMasker {
  const defaultKind = kindForResource(resource);
  let credentialColumns: readonly boolean[] | undefined;
  return {
    envelope(env: Record<string, unknown>): void {
      credentialColumns = env.kind === 'Table' ? credentialColumnsOf(env.columnDefinitions) : undefined;
    },
    mask(raw: unknown, role: UnitRole, envelopeKind: string | undefined): unknown {
      // The reader's view first: what it may not see is never masked, only left out.
      const value = view ? applyView(raw, view, role) : raw;
      if (value === HIDDEN) return HIDDEN;
      if (role === 'row') return maskUnit(value, ctx, { kindHint: defaultKind, tableRow: true, credentialColumns });
      if (role === 'item') {
        const fromList = envelopeKind && envelopeKind !== 'List' && envelopeKind.endsWith('List') && !envelopeKind.startsWith('PartialObjectMetadata')
          ? envelopeKind.slice(0, -4)
          : undefined;
        return maskUnit(value, ctx, { kindHint: fromList ?? defaultKind });
      }
      return maskUnit(value, ctx, { kindHint: defaultKind });
    },
    flush(): void {
      recordCounts(ctx.counts);
      for (const k of Object.keys(ctx.counts)) delete ctx.counts[k as keyof MaskCounts];
    },
  };
}

/** Refuses any body it cannot read (protobuf, YAML, CBOR): fail closed instead of passing secrets through. */
class UnmaskableStream extends Transform {
  private readonly contentType: string;
  constructor(contentType: string) {
    super();
    this.contentType = contentType;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (chunk.length === 0 || /^\s*$/.test(chunk.toString('latin1'))) return cb();
    cb(new Error(`response of content type "${this.contentType}" cannot be masked; refusing to pass it to the agent`));
  }
}

export function createMaskerFactory(opts: MaskerFactoryOptions = {}): MaskerFactory {
  const marker = new Marker(opts.key ?? randomBytes(32), opts.markers ?? 'stable');
  const recordCounts = countsRecorder(opts.metrics ?? createMetrics());
  const needsMasking: MaskerFactory['needsMasking'] = (target, rules) => {
    // Rules present means the policy asks for masking: env values and secret-shaped strings are masked
    // in every object response, whatever the resource (CRDs and v1 Lists can embed Secrets too).
    if (!target.resource) return false; // non-resource paths (/version, /openapi) carry no objects
    if (target.subresource === 'log') return rules.logs;
    if (target.subresource && STREAM_SUBRESOURCES.has(target.subresource)) return false;
    return true;
  };
  /** The per-response text masker: policy patterns plus the response's known values (provider and target). */
  const textMasker = (target: Omit<MaskTarget, 'contentType'>, rules: Parameters<MaskerFactory['create']>[1]): TextMasker => {
    const extra = opts.extraValues?.({ ...target, contentType: (target as Partial<MaskTarget>).contentType ?? 'application/json' }) ?? [];
    const scrubber = ValueScrubber.of([...extra, ...(target.knownValues ?? [])]);
    return new TextMasker(marker, rules.patterns, [], { scrubbers: scrubber ? [scrubber] : [] });
  };
  const create: MaskerFactory['create'] = (target, rules) => {
    if (!needsMasking(target, rules)) return undefined;
    const text = textMasker(target, rules);
    const ct = target.contentType.toLowerCase();
    if (target.subresource === 'log' || ct.startsWith('text/plain')) {
      return new LogMaskStream(text, { maxLineBytes: opts.maxLineBytes, onCounts: recordCounts });
    }
    if (ct.includes('json')) {
      const ctx: ObjectMaskContext = { text, rules, counts: {}, tableIncludeObject: target.tableIncludeObject };
      const maxResponseBytes = target.watch ? Infinity : opts.maxResponseBytes;
      return new JsonMaskStream(unitMasker(ctx, target.resource, target.view, recordCounts), { maxUnitBytes: opts.maxUnitBytes, maxResponseBytes });
    }
    return new UnmaskableStream(target.contentType);
  };
  const maskValue: NonNullable<MaskerFactory['maskValue']> = (value, target, rules) => {
    const ctx: ObjectMaskContext = { text: textMasker(target, rules), rules, counts: {}, tableIncludeObject: target.tableIncludeObject };
    const seen = target.view ? applyView(value, target.view, 'document') : value;
    const out = maskUnit(seen, ctx, { kindHint: kindForResource(target.resource) });
    recordCounts(ctx.counts);
    return out;
  };
  const reveals: NonNullable<MaskerFactory['reveals']> = (value, secrets, target, rules) => {
    const scrubber = ValueScrubber.of(secrets);
    if (!scrubber) return false;
    // Names and shapes only: a value that is hidden merely because it is known from elsewhere in the same
    // object (value-aware scrubbing) would be in clear once that elsewhere changes.
    const ctx: ObjectMaskContext = { text: new TextMasker(marker, rules.patterns, []), rules, counts: {} };
    return scrubber.contains(JSON.stringify(maskObject(structuredClone(value), ctx, kindForResource(target.resource))));
  };
  const releaseText = (rules: Parameters<MaskerFactory['create']>[1]) => new TextMasker(marker, rules.patterns, []);
  const releaseView: NonNullable<MaskerFactory['releaseView']> = (decoded, rules) =>
    maskRelease(decoded, { text: releaseText(rules), rules, counts: {} }, marker.forDocument(decoded.digest));
  // A stored revision's markers are the same every time (its view is deterministic): one Helm upgrade
  // writes records three times, each mapping markers of the same revisions back.
  const markersByRecord = new Map<string, Map<string, Buffer>>();
  const releaseMarkers: NonNullable<MaskerFactory['releaseMarkers']> = (decoded, rules) => {
    const key = [decoded.digest, rules.secrets, rules.configMaps, ...rules.envNamePatterns, '\0', ...rules.patterns.map(String)].join('\0');
    let found = markersByRecord.get(key);
    if (!found) {
      found = issuedMarkers(decoded, { text: releaseText(rules), rules }, marker.forDocument(decoded.digest));
      if (markersByRecord.size >= RELEASE_MARKER_CACHE) markersByRecord.delete(markersByRecord.keys().next().value!);
    }
    markersByRecord.delete(key);
    markersByRecord.set(key, found);
    return found;
  };
  // Repeated execs into the same pod search for the same values: the automaton is built once for them.
  const knownCache = new Map<string, ExecKnownValues | undefined>();
  const knownValuesOf = (values: readonly (string | Buffer)[]): ExecKnownValues | undefined => {
    const h = createHash('sha256');
    for (const v of [...values].map((x) => (Buffer.isBuffer(x) ? `b${x.toString('base64')}` : `s${x}`)).sort()) h.update(v).update('\0');
    const key = h.digest('hex');
    if (knownCache.has(key)) {
      const hit = knownCache.get(key);
      knownCache.delete(key);
      knownCache.set(key, hit);
      return hit;
    }
    const built = ExecKnownValues.of(values);
    if (knownCache.size >= EXEC_VALUES_CACHE) knownCache.delete(knownCache.keys().next().value!);
    knownCache.set(key, built);
    return built;
  };
  const execOutput: NonNullable<MaskerFactory['execOutput']> = (rules, values) => {
    const known = knownValuesOf(values);
    return {
      stream: () => new ExecOutputMasker({ text: new TextMasker(marker, rules.patterns, []), known, maxLineBytes: opts.maxLineBytes, onCounts: recordCounts }),
      reveals: (bytes) => known?.contains(bytes) ?? false,
    };
  };
  return { needsMasking, create, maskValue, reveals, releaseView, releaseMarkers, execOutput };
}
