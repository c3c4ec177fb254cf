// The mutate stage: a policy's JSON patch applied to what is forwarded. For a create it patches the body;
// for PATCH/PUT it patches the judged dry-run result, which is then sent as a PUT of that object (or a
// POST when an apply created it), so the API server stores exactly the mutated object.
import type { Decision } from '../policy/types.js';
import { isObj } from './context.js';
import { collectionPath, type Obj } from './dryrun.js';
import { applyJsonPatch, parsePointer } from './json-patch.js';
import { stampProtobuf } from './protobuf-meta.js';
import type { JsonPatchOp } from '../api/types.js';
import { denyMessage } from '../policy/verdict.js';
import { target, type RequestInfo } from './request-info.js';
import { kubeStatus, type KubeStatus } from './status.js';
import type { Subject } from './subject.js';

export interface Outgoing {
  method: string;
  /** Path and query, canonical. */
  path: string;
  body: unknown;
  contentType?: string;
}

export function outgoingFor(info: RequestInfo, method: string, subject: Subject): Outgoing {
  if (subject.method === 'PUT' && method === 'PATCH') {
    // Sent as the whole judged object: patch-only options (force) do not apply to a PUT.
    const params = new URLSearchParams(info.params);
    params.delete('force');
    return { method: 'PUT', path: target({ path: info.path, query: params.toString() }), body: subject.body, contentType: 'application/json' };
  }
  return { method, path: target(info), body: subject.body, ...(subject.contentType ? { contentType: subject.contentType } : {}) };
}

/**
 * A patch that only sets string labels and annotations (one key at a time, or the whole labels map), as
 * those maps; undefined for anything else.
 */
function metadataStamp(patch: readonly JsonPatchOp[]): { labels: Record<string, string>; annotations: Record<string, string>; replaceLabels: boolean } | undefined {
  const out = { labels: {} as Record<string, string>, annotations: {} as Record<string, string>, replaceLabels: false };
  const strings = (v: unknown): v is Record<string, string> => isObj(v) && Object.values(v).every((x) => typeof x === 'string');
  for (const op of patch) {
    if (op.op !== 'add' && op.op !== 'replace') return undefined;
    const path = parsePointer(op.path);
    if (path[0] !== 'metadata' || (path[1] !== 'labels' && path[1] !== 'annotations')) return undefined;
    if (path.length === 3 && typeof op.value === 'string') out[path[1]][path[2]!] = op.value;
    else if (path.length === 2 && path[1] === 'labels' && strings(op.value)) {
      out.labels = { ...op.value };
      out.replaceLabels = true;
    } else return undefined;
  }
  return out;
}

export function mutate(decision: Extract<Decision, { action: 'mutate' }>, info: RequestInfo, method: string, subject: Subject): Outgoing | KubeStatus {
  try {
    if (method === 'POST' && Buffer.isBuffer(subject.body)) {
      // Labels and annotations are written into the client's protobuf; any other rewrite would mean
      // re-encoding it, or forwarding a dry run's output (with the fields the server would allocate).
      const stamp = metadataStamp(decision.patch);
      const body = stamp && stampProtobuf(subject.body, stamp);
      if (!body) return kubeStatus(415, denyMessage(decision, 'a policy rewrites more than labels and annotations of this create, which needs a JSON body; send it as JSON (kubectl create -f / apply)'), 'UnsupportedMediaType');
      return { method, path: target(info), body, contentType: subject.contentType ?? 'application/vnd.kubernetes.protobuf' };
    }
    if (method === 'POST' && isObj(subject.body)) {
      return { method, path: target(info), body: applyJsonPatch(subject.body, decision.patch), contentType: subject.contentType ?? 'application/json' };
    }
    if ((method === 'PUT' || method === 'PATCH') && subject.object) {
      let body = applyJsonPatch(subject.object, decision.patch) as Obj;
      const params = new URLSearchParams(info.params);
      params.delete('force');
      const path = subject.oldObject ? target({ path: info.path, query: params.toString() }) : target({ path: collectionPath(info), query: params.toString() });
      if (isObj(body.metadata)) {
        const meta = { ...(body.metadata as Obj) };
        if (!subject.oldObject) delete meta.resourceVersion;
        delete meta.managedFields;
        body = { ...body, metadata: meta };
      }
      return { method: subject.oldObject ? 'PUT' : 'POST', path, body, contentType: 'application/json' };
    }
    return kubeStatus(403, denyMessage(decision, `the mutation cannot be applied to a ${method} request without an object`), 'Forbidden');
  } catch (err) {
    return kubeStatus(403, denyMessage(decision, `mutation failed: ${(err as Error).message}`), 'Forbidden');
  }
}
