// One unit (an object, a list item, a watch event, a Table row, or a whole document) masked knowing its own
// secret values: first the values the unit protects are collected, then the unit is masked with those
// values scrubbed from every string (labels, annotations, status, messages, cells), and finally any secret
// the detectors found only while masking is scrubbed from the rest of the unit as well.
import { bump, type MaskCounts } from './detectors.js';
import { collectProtectedValues, isObj } from './protected-values.js';
import { maskObject, maskRow, reduceRowObject, type ObjectMaskContext } from './object-mask.js';
import type { Marker } from './marker.js';
import { ValueScrubber } from './value-scrubber.js';

export interface UnitShape {
  kindHint?: string;
  /** The unit is one Table row of a streamed Table. */
  tableRow?: boolean;
  /** For a Table row: the credential columns (from the Table's columnDefinitions). */
  credentialColumns?: readonly boolean[];
}

export function maskUnit(value: unknown, base: ObjectMaskContext, shape: UnitShape = {}): unknown {
  const known = collectProtectedValues(value, base.rules, { kindHint: shape.kindHint, detectors: false, tableRow: shape.tableRow, credentialColumns: shape.credentialColumns });
  const found = new Set<string>();
  const ctx: ObjectMaskContext = { ...base, text: base.text.withValues(ValueScrubber.of(known), found) };
  let out = shape.tableRow ? maskRow(value, ctx, shape.kindHint, shape.credentialColumns) : maskObject(value, ctx, shape.kindHint);
  const late = ValueScrubber.of([...found].filter((v) => !known.has(v)));
  if (late) out = scrubStrings(out, late, ctx.text.marker, ctx.counts);
  if (shape.tableRow) out = reduceRowObject(out, base.tableIncludeObject);
  else reduceTableRows(out, base.tableIncludeObject);
  return out;
}

function reduceTableRows(value: unknown, include: ObjectMaskContext['tableIncludeObject']): void {
  if (include === undefined || !isObj(value) || value.kind !== 'Table' || !Array.isArray(value.rows)) return;
  for (let i = 0; i < value.rows.length; i++) value.rows[i] = reduceRowObject(value.rows[i], include);
}

/**
 * Replaces the scrubber's values in every string of an already masked value: metadata annotations, labels
 * (whole) and everything outside metadata. Names, uids and other identity metadata stay as they are.
 */
export function scrubStrings(node: unknown, scrubber: ValueScrubber, marker: Marker, counts: MaskCounts): unknown {
  const mark = (v: string) => marker.mark(v);
  const hit = () => bump(counts, 'field');
  const walk = (n: unknown): unknown => {
    if (typeof n === 'string') return scrubber.replace(n, mark, hit);
    if (Array.isArray(n)) {
      for (let i = 0; i < n.length; i++) n[i] = walk(n[i]);
      return n;
    }
    if (!isObj(n)) return n;
    for (const [k, v] of Object.entries(n)) {
      if (k === 'metadata' && isObj(v)) scrubMetadata(v);
      else if (k !== 'kind' && k !== 'apiVersion') n[k] = walk(v);
    }
    return n;
  };
  const scrubMetadata = (meta: Record<string, unknown>): void => {
    if (isObj(meta.annotations)) for (const [k, v] of Object.entries(meta.annotations)) meta.annotations[k] = walk(v);
    if (isObj(meta.labels)) {
      for (const [k, v] of Object.entries(meta.labels)) {
        if (typeof v === 'string' && scrubber.contains(v)) {
          meta.labels[k] = mark(v);
          hit();
        }
      }
    }
  };
  return walk(node);
}

/**
 * Replaces every spelling of the known values in every string of a value (all keys, metadata included):
 * for the proxy's own small messages (a Status naming the object a request touched). Returns a copy.
 */
export function scrubKnownValues(value: unknown, known: readonly string[], mark: (value: string) => string): unknown {
  const scrubber = ValueScrubber.of(known);
  if (!scrubber) return value;
  const walk = (n: unknown): unknown => {
    if (typeof n === 'string') return scrubber.replace(n, mark);
    if (Array.isArray(n)) return n.map(walk);
    if (isObj(n)) return Object.fromEntries(Object.entries(n).map(([k, v]) => [k, walk(v)]));
    return n;
  };
  return walk(value);
}
