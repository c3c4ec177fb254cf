// One agent request through the proxy: refuse identity headers, parse and normalise, authenticate,
// read and parse the body (bounded), resolve the object to judge (dry run for PATCH/PUT), decide, act
// (deny / hold / mutate / allow), forward with impersonation, stream the (masked) response, record.
import { resourceCoordinates } from '../policy/coordinates.js';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream';
import { proxyRequestDuration, upstreamRequestDuration } from '../metrics/registry.js';
import type { MaskTarget } from '../masking/types.js';
import type { RequestAttributes } from '../policy/types.js';
import { admit, baseAttributes, namespaceLabels } from './admit.js';
import { bodyKind, parseBody, readBody, type BodyKind } from './body.js';
import { closeSignal, elapsed, hasBody, isObj, NEVER, newExchange, type Exchange, type ProxyContext } from './context.js';
import { collectionItems, collectionPath, dryRunObject, liveObject, PassThrough, protobufAsJson, resourceVersionOf, type Obj } from './dryrun.js';
import { forwardableHeaders, responseHeaders } from './headers.js';
import { applyJsonPatch } from './json-patch.js';
import { AGENT_ANNOTATION, SESSION_ANNOTATION, stampable as canStamp, withProvenance } from './provenance.js';
import { Capture, finishRecord, requestBodyForRecord } from './record.js';
import { judgedVerbs, RequestError, target } from './request-info.js';
import { kubeStatus, sendStatus, type KubeStatus } from './status.js';
import { maskedPlaceholderPath } from './placeholders.js';
import { MARKER_PREFIX } from '../masking/marker.js';
import { decideAll, denyMessage, verdictFor } from './judge.js';

export type { ProxyContext } from './context.js';
export { handleUpgrade } from './upgrade.js';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** How often a write is judged again when the object changed between the judgement and the write. */
const MAX_CONFLICT_RETRIES = 5;

function done(fn: (st: KubeStatus) => void, st: KubeStatus): 'done';
function done(fn: () => void): 'done';
function done(fn: (st: KubeStatus) => void, st?: KubeStatus): 'done' {
  fn(st!);
  return 'done';
}

/** Whether the agent's own body already pins a resourceVersion (then a conflict is the agent's to handle). */
function carriesResourceVersion(kind: BodyKind | undefined, body: unknown): boolean {
  if (kind === 'json-patch') return Array.isArray(body) && body.some((op) => isObj(op) && op.path === '/metadata/resourceVersion');
  return isObj(body) && isObj(body.metadata) && (body.metadata as Obj).resourceVersion !== undefined && (body.metadata as Obj).resourceVersion !== '';
}

export async function handleHttp(ctx: ProxyContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ex: Exchange = newExchange(req);
  const answer = (st: KubeStatus) => {
    ex.status = st.code;
    ex.reason = st.message;
    ex.responseBody = st;
    sendStatus(res, st);
    proxyRequestDuration.observe({ verb: ex.verbForMetrics, code: String(st.code) }, elapsed(ex.start));
    void finishRecord(ctx, req, ex);
  };
  const admitted = await admit(ctx, req, ex);
  if ('kind' in admitted) {
    req.resume();
    return answer(admitted);
  }
  const { info, user } = admitted;

  // Body: only writes carry one; it is read up to the limit and parsed before anything is judged.
  let kind: BodyKind | undefined;
  let body: unknown;
  let contentType: string | undefined;
  if (hasBody(req)) {
    if (!WRITE_METHODS.has(ex.method)) {
      req.resume();
      return answer(kubeStatus(400, `airlock: a ${ex.method} request may not carry a body`));
    }
    try {
      kind = bodyKind(ex.method === 'DELETE' ? 'DELETE' : ex.method, req.headers['content-type']);
      if (ex.method === 'DELETE' && kind !== 'json') throw new RequestError(415, 'UnsupportedMediaType', 'DELETE bodies must be application/json DeleteOptions');
      const raw = await readBody(req, ctx.maxBodyBytes);
      const parsed = parseBody(kind, raw, req.headers['content-type'] ?? '');
      body = parsed.value;
      contentType = parsed.contentType;
    } catch (err) {
      req.resume();
      if (err instanceof RequestError) return answer(kubeStatus(err.code, err.message, err.reason));
      throw err;
    }
  } else {
    req.resume();
  }

  const sessionId = ctx.recorder?.sessionFor(user);
  const provenance: Record<string, string> = { [AGENT_ANNOTATION]: user.username };
  if (sessionId) provenance[SESSION_ANNOTATION] = sessionId;
  const stampable = info.isResourceRequest && canStamp(info.apiGroup, info.subresource) && (ex.method === 'POST' || ex.method === 'PUT' || ex.method === 'PATCH') && kind !== undefined;

  const original = { body, kind, contentType };
  for (let attemptNo = 0; ; attemptNo++) {
    const outcome = await attempt(attemptNo);
    if (outcome === 'done') return;
  }

  async function attempt(attemptNo: number): Promise<'done' | 'retry'> {
    let { body, kind, contentType } = original;
    let injected = false;
    // Resolve the object to judge.
    let object: Obj | undefined;
    let oldObject: Obj | undefined;
    let items: Obj[] | undefined;
    try {
      if (kind === 'protobuf') {
        if (!info.isResourceRequest) throw new RequestError(415, 'UnsupportedMediaType', 'protobuf bodies are accepted only for resource creates and updates');
        if (ex.method === 'PUT') oldObject = await liveObject(ctx.upstream, info, user);
        body = await protobufAsJson(ctx.upstream, ex.method, info, user, body as Buffer, oldObject);
        kind = 'json';
        contentType = 'application/json';
        if (stampable) body = withProvenance(kind, body, provenance);
        object = body as Obj;
      } else if (info.isResourceRequest && (ex.method === 'PUT' || ex.method === 'PATCH') && kind !== undefined) {
        oldObject = await liveObject(ctx.upstream, info, user);
        if (!oldObject && kind !== 'apply-patch' && ex.method === 'PATCH') {
          return done(answer, kubeStatus(404, `${info.resource}${info.name ? ` "${info.name}"` : ''} not found`, 'NotFound', { name: info.name, group: info.apiGroup, kind: info.resource }));
        }
        const rv = stampable ? resourceVersionOf(oldObject) : undefined;
        injected = !!rv && !carriesResourceVersion(kind, body);
        body = stampable ? withProvenance(kind, body, provenance, oldObject, rv) : body;
        object = await dryRunObject(ctx.upstream, ex.method, info, user, contentType!, body);
      } else if (info.isResourceRequest && ex.method === 'POST' && kind !== undefined) {
        if (stampable) body = withProvenance(kind, body, provenance);
        if (isObj(body)) object = body;
      } else if (info.isResourceRequest && info.verb === 'delete') {
        oldObject = await liveObject(ctx.upstream, info, user);
      } else if (info.isResourceRequest && info.verb === 'deletecollection') {
        items = await collectionItems(ctx.upstream, info, user);
      }
    } catch (err) {
      if (err instanceof PassThrough) return done(() => answerUpstream(res, err, ex, ctx, req));
      if (err instanceof RequestError) return done(answer, kubeStatus(err.code, err.message, err.reason));
      throw err;
    }
    if (body !== undefined) ex.requestBody = requestBodyForRecord(info.resource, body);
    const placeholder = object && maskedPlaceholderPath(object);
    if (placeholder) {
      return done(answer, kubeStatus(422, `airlock: ${placeholder} holds a masked placeholder (${MARKER_PREFIX}…), not a real value: writing it back would destroy the real one; send the real value or leave the field out`, 'Invalid'));
    }

    const variants: RequestAttributes[] = [];
    const nsLabels = await namespaceLabels(ctx, info.namespace);
    for (const verb of judgedVerbs(info, ex.method)) {
      const a = baseAttributes(info, user, verb);
      if (object) a.object = object;
      if (oldObject) a.oldObject = oldObject;
      if (nsLabels) a.namespaceLabels = nsLabels;
      variants.push(a);
    }
    for (const item of items ?? []) {
      const meta = (item.metadata ?? {}) as { name?: string };
      const a = baseAttributes(info, user, 'delete');
      if (meta.name) a.name = meta.name;
      a.oldObject = item;
      variants.push(a);
    }
    const decision = decideAll(ctx.engine, variants);
    ex.decision = decision;
    const verdict = await verdictFor(decision, variants[0]!, ctx.approvals, decision.action === 'hold' ? closeSignal(res) : NEVER);
    ex.approval = verdict.approval;
    if (!verdict.forward) return done(answer, verdict.status);
    const retriable = injected && decision.action !== 'hold' && attemptNo < MAX_CONFLICT_RETRIES;

    // Mutate: applied to the body (create) or to the judged dry-run result (sent as PUT of that object).
    let method = ex.method;
    let path = target(info);
    if (decision.action === 'mutate') {
      try {
        if (ex.method === 'POST' && isObj(body)) {
          body = applyJsonPatch(body, decision.patch);
        } else if ((ex.method === 'PUT' || ex.method === 'PATCH') && object) {
          body = applyJsonPatch(object, decision.patch);
          contentType = 'application/json';
          const params = new URLSearchParams(info.params);
          params.delete('force');
          if (oldObject) {
            method = 'PUT';
          } else {
            method = 'POST';
            path = target({ path: collectionPath(info), query: params.toString() });
          }
          if (oldObject) path = target({ path: info.path, query: params.toString() });
          if (isObj(body) && isObj(body.metadata)) {
            const meta = { ...(body.metadata as Obj) };
            if (!oldObject) delete meta.resourceVersion;
            delete meta.managedFields;
            body = { ...body, metadata: meta };
          }
        } else {
          return done(answer, kubeStatus(403, denyMessage(decision, `${decision.reason} (the mutation cannot be applied to a ${ex.method} request without an object)`), 'Forbidden'));
        }
      } catch (err) {
        return done(answer, kubeStatus(403, denyMessage(decision, `mutation failed: ${(err as Error).message}`), 'Forbidden'));
      }
    }

    // Forward.
    const maskRules = decision.masking;
    const maskTarget: Omit<MaskTarget, 'contentType'> = { ...resourceCoordinates(info), watch: info.watch };
    const mask = !!(ctx.masker && maskRules && ctx.masker.needsMasking(maskTarget, maskRules));
    const headers: OutgoingHttpHeaders = { ...forwardableHeaders(req.headers), ...ctx.upstream.identity(user) };
    if (mask) {
      headers.accept = jsonOnlyAccept(req.headers.accept);
      delete headers['accept-encoding'];
    }
    let payload: string | undefined;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = contentType;
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const upstreamStart = process.hrtime.bigint();
    return new Promise<'done' | 'retry'>((resolve) => {
      const up = ctx.upstream.request(method, path, headers);
      res.on('close', () => {
        if (!res.writableFinished) up.destroy();
      });
      up.on('error', (err) => {
        if (!res.headersSent) answer(kubeStatus(502, `airlock: upstream error: ${err.message}`, 'ServiceUnavailable'));
        else res.destroy();
        resolve('done');
      });
      up.on('response', (ures) => {
        upstreamRequestDuration.observe({ verb: info.verb }, elapsed(upstreamStart));
        const status = ures.statusCode ?? 502;
        if (status === 409 && retriable) {
          // Our resourceVersion precondition failed: the object changed since it was judged. Judge again.
          ures.resume();
          resolve('retry');
          return;
        }
        resolve('done');
        ex.status = status;
        const rh = responseHeaders(ures.headers);
        let transform: Transform | undefined;
        if (mask && ctx.masker && maskRules) {
          transform = ctx.masker.create({ ...maskTarget, contentType: String(ures.headers['content-type'] ?? '') }, maskRules);
          if (transform) delete rh['content-length'];
        }
        res.writeHead(status, rh);
        if (info.watch || info.params.get('follow') === 'true') res.flushHeaders();
        proxyRequestDuration.observe({ verb: info.verb, code: String(status) }, elapsed(ex.start));
        const recordBodies = !!ctx.recorder && decision.recording.enabled && decision.recording.bodies && !info.watch && info.params.get('follow') !== 'true';
        const capture = recordBodies ? new Capture() : undefined;
        const stages: Transform[] = [];
        if (transform) stages.push(transform);
        if (capture) stages.push(capture);
        const done = (err?: Error | null) => {
          if (err && !res.writableEnded) res.destroy();
          if (capture) ex.responseBody = capture.value();
          void finishRecord(ctx, req, ex);
        };
        if (stages.length === 0) pipeline(ures, res, done);
        else if (stages.length === 1) pipeline(ures, stages[0]!, res, done);
        else pipeline(ures, stages[0]!, stages[1]!, res, done);
      });
      up.end(payload);
    });
  }
}

/** Keeps JSON media ranges of the agent's Accept (incl. ;as=Table variants), or asks for plain JSON. */
export function jsonOnlyAccept(accept: string | undefined): string {
  const kept = (accept ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.split(';')[0]!.trim().toLowerCase() === 'application/json');
  return kept.length ? kept.join(', ') : 'application/json';
}

function answerUpstream(res: ServerResponse, p: PassThrough, ex: Exchange, ctx: ProxyContext, req: IncomingMessage): void {
  const r = p.response;
  ex.status = r.status;
  ex.responseBody = r.body;
  const ct = String(r.headers['content-type'] ?? 'application/json');
  res.writeHead(r.status, { 'content-type': ct, 'content-length': Buffer.byteLength(r.text), 'cache-control': 'no-cache, private' });
  res.end(r.text);
  proxyRequestDuration.observe({ verb: ex.verbForMetrics, code: String(r.status) }, elapsed(ex.start));
  void finishRecord(ctx, req, ex);
}
