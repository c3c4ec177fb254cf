// Kubernetes label selectors (matchLabels + matchExpressions), compiled once into a predicate.
import type { LabelSelector } from '../api/types.js';

export type LabelPredicate = (labels: Record<string, string>) => boolean;

/** Validates a selector; returns messages relative to `path`. */
export function selectorErrors(sel: LabelSelector, path: string): string[] {
  const errs: string[] = [];
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    if (!e.key) errs.push(`${p}.key: must not be empty`);
    const n = e.values?.length ?? 0;
    if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) errs.push(`${p}.values: must be non-empty for ${e.operator}`);
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) errs.push(`${p}.values: must be empty for ${e.operator}`);
  });
  return errs;
}

export function compileSelector(sel: LabelSelector): LabelPredicate {
  const checks: LabelPredicate[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) checks.push((l) => Object.hasOwn(l, k) && l[k] === v);
  for (const e of sel.matchExpressions ?? []) {
    const vals = new Set(e.values ?? []);
    const k = e.key;
    switch (e.operator) {
      case 'In': checks.push((l) => Object.hasOwn(l, k) && vals.has(l[k]!)); break;
      case 'NotIn': checks.push((l) => !Object.hasOwn(l, k) || !vals.has(l[k]!)); break;
      case 'Exists': checks.push((l) => Object.hasOwn(l, k)); break;
      case 'DoesNotExist': checks.push((l) => !Object.hasOwn(l, k)); break;
      default: checks.push(() => false);
    }
  }
  return (labels) => checks.every((c) => c(labels));
}

/** Labels of an object (metadata.labels), or undefined when the object is unknown. Non-string values are ignored. */
export function labelsOf(obj: Record<string, unknown> | undefined): Record<string, string> | undefined {
  if (!obj || typeof obj !== 'object') return undefined;
  const meta = obj.metadata;
  if (!meta || typeof meta !== 'object') return {};
  const raw = (meta as Record<string, unknown>).labels;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') out[k] = v;
  return out;
}
