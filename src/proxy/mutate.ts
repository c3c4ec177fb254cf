// The mutate stage: a policy's JSON patch applied to what is forwarded. For a create it patches the body;
// for PATCH/PUT it patches the judged dry-run result, which is then sent as a PUT of that object (or a
// POST when an apply created it), so the API server stores exactly the mutated object.
import type { Decision } from '../policy/types.js';
import { isObj } from './context.js';
import { collectionPath, type Obj } from './dryrun.js';
import { applyJsonPatch } from './json-patch.js';
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

export function mutate(decision: Extract<Decision, { action: 'mutate' }>, info: RequestInfo, method: string, subject: Subject): Outgoing | KubeStatus {
  try {
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
