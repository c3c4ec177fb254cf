// Reconciles an orphaned write intent (see recovery.ts) against the cluster: reads the object the write
// named and compares it with what the intent recorded (the session that wrote it, the resourceVersion
// the write was judged against). What cannot be told apart stays `unknown`; it is never guessed.
import { SESSION_ANNOTATION } from '../proxy/provenance.js';
import type { Reconciler } from './recovery.js';
import type { RecoveredOutcome, RequestRecord } from './types.js';

/** Reads one object as Airlock itself; undefined when it does not exist. */
export type ObjectReader = (path: string) => Promise<Record<string, unknown> | undefined>;

export function clusterReconciler(read: ObjectReader): Reconciler {
  return async (intent) => {
    const path = objectPath(intent);
    if (!path) return { outcome: 'unknown', reason: 'the intent names no single object' };
    let obj: Record<string, unknown> | undefined;
    try {
      obj = await read(path);
    } catch (err) {
      return { outcome: 'unknown', reason: `the object could not be read: ${(err as Error).message}` };
    }
    return judgeOutcome(intent, obj);
  };
}

/** What the object's current state says about the intent (pure; exported for tests). */
export function judgeOutcome(intent: RequestRecord, obj: Record<string, unknown> | undefined): RecoveredOutcome {
  const meta = (obj?.metadata ?? {}) as { resourceVersion?: string; deletionTimestamp?: string; annotations?: Record<string, string> };
  const rv = meta.resourceVersion;
  const here = rv ? { resourceVersion: rv } : {};
  const bySession = meta.annotations?.[SESSION_ANNOTATION] === intent.sessionId;
  const base = intent.baseResourceVersion;
  switch (intent.request.verb) {
    case 'create':
      if (!obj) return { outcome: 'not-applied', reason: 'the object does not exist' };
      return bySession ? { outcome: 'applied', reason: 'the object exists and carries this session', ...here } : { outcome: 'unknown', reason: 'the object exists but was not written by this session', ...here };
    case 'update':
    case 'patch':
      if (!obj) return { outcome: 'unknown', reason: 'the object no longer exists' };
      if (base && rv === base) return { outcome: 'not-applied', reason: `the object is unchanged since it was judged (resourceVersion ${base})`, ...here };
      return bySession ? { outcome: 'applied', reason: 'the object changed since it was judged and carries this session', ...here } : { outcome: 'unknown', reason: 'the object changed since it was judged, not by this session', ...here };
    case 'delete':
      if (!obj) return { outcome: 'applied', reason: 'the object no longer exists' };
      if (meta.deletionTimestamp) return { outcome: 'applied', reason: 'the object is being deleted', ...here };
      if (base && rv === base) return { outcome: 'not-applied', reason: `the object is unchanged since it was judged (resourceVersion ${base})`, ...here };
      return { outcome: 'unknown', reason: 'the object still exists and has changed', ...here };
    default:
      return { outcome: 'unknown', reason: `a ${intent.request.verb} cannot be reconciled from the object`, ...here };
  }
}

/** The API path of the single object an intent names (the created object's name from its body). */
function objectPath(intent: RequestRecord): string | undefined {
  const r = intent.request;
  if (!r.resource || !r.apiVersion || r.subresource) return undefined;
  const body = intent.requestBody as { metadata?: { name?: unknown } } | undefined;
  const name = r.name ?? (r.verb === 'create' && typeof body?.metadata?.name === 'string' ? body.metadata.name : undefined);
  if (!name) return undefined;
  const root = r.apiGroup ? `/apis/${r.apiGroup}/${r.apiVersion}` : `/api/${r.apiVersion}`;
  const ns = r.namespace ? `/namespaces/${encodeURIComponent(r.namespace)}` : '';
  return `${root}${ns}/${encodeURIComponent(r.resource)}/${encodeURIComponent(name)}`;
}
