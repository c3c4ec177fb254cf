// One agent request through the proxy, as named stages:
//   admit -> body -> subject -> guard -> judge -> mutate -> forward -> respond (the gate) -> record
// Plain requests and protocol upgrades take the same stages; only forwarding differs. Every answer,
// from any stage, leaves through the response gate; nothing is sent upstream as the agent before the
// judge except the side-effect-free probes of the subject stage, whose answers only reach the agent
// through the gate too.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorField } from '../log.js';
import { resourceCoordinates } from '../policy/coordinates.js';
import type { Decision, ExecTarget, ResolvedMasking, UserInfo } from '../policy/types.js';
import { admit, MUTATING_METHODS, namespaceLabels } from './admit.js';
import { agentView } from './agent-view.js';
import { readRequestBody, type ParsedBody } from './body.js';
import type { AgentChannel } from './channel.js';
import { elapsed, isObj, newExchange, STRICTEST_MASKING, type Exchange, type ProxyContext } from './context.js';
import type { ProbeContext } from './dryrun.js';
import { forwardableHeaders } from './headers.js';
import { ResponseGate, type MaskView } from './gate.js';
import { decideAll, judgedAttributes, verdictFor } from './judge.js';
import { auditWarnings, denyMessage } from '../policy/verdict.js';
import { mutate, outgoingFor, type Outgoing } from './mutate.js';
import { protobufObjectMeta } from './protobuf-meta.js';
import { AGENT_ANNOTATION, SESSION_ANNOTATION } from './provenance.js';
import { finishRecord, refuseUnrecordableRead, writeIntent, type IntentAttempt } from './record.js';
import { isLogFollow, isPodLog, RequestError, type RequestInfo } from './request-info.js';
import { effectiveOptions, type EffectiveOptions } from './request-options.js';
import { enrichServiceAccounts } from '../policy/service-account-enrich.js';
import { enrichAdoptions, orphansOf, type OrphanLister } from '../policy/adoption.js';
import { READ_VERBS } from '../policy/detectors/util.js';
import { isKubeStatus, kubeStatus, type KubeStatus } from './status.js';
import { resolveSubject } from './subject.js';
import { forwardUpgrade, isExecOrAttach, type ExecOutput } from './upgrade.js';
import { readExecPod, readTargetValues } from './exec-target.js';
import { execMaskers } from './exec-guard.js';
import { deadlineFor, isDeadlineExceeded, timeoutStatus, type Deadline } from './deadline.js';
import { refuseUnsafeWrite } from './write-guards.js';
import { UPGRADE_SUBRESOURCES } from './subresources.js';
import { admitRate, budgetsAfterApproval, budgetsBeforeVerdict, type BudgetCounting } from './budgets.js';


/** How often a write is judged again when the object changed between the judgement and the write. */
const MAX_CONFLICT_RETRIES = 5;

export interface UpgradeRequest {
  socket: Duplex;
  head: Buffer;
}

/** Serves one agent request end to end; never throws (internal errors become a 500 Status). */
export async function serveAgentRequest(ctx: ProxyContext, req: IncomingMessage, channel: AgentChannel, upgrade?: UpgradeRequest): Promise<void> {
  const ex = newExchange(req);
  if (ctx.tracing) ex.trace = ctx.tracing.startRequest(req.headers, { 'http.request.method': ex.method, 'url.path': ex.rawPath.split('?')[0]!, 'airlock.request.id': ex.id });
  const gate = new ResponseGate(ctx, ex, channel);
  try {
    await runStages(ctx, req, ex, gate, upgrade);
  } catch (err) {
    // A request whose agent went away fails on the way (its upstream call is cut): that is not an error.
    if (!gate.agentGone) ctx.log.error('agent request failed', { id: ex.id, error: errorField(err) });
    if (!gate.started) gate.answer(kubeStatus(500, 'airlock: internal error in the agent proxy'));
    else gate.abort();
  } finally {
    ex.releaseSlot?.();
    void refundUndone(ex); // API writes of its own: the outcome record does not wait for them (undo reports its errors)
    if (ctx.tracing) traceOutcome(ex);
    void ex.trace.stage('record', (span) => (span.set({ 'airlock.record': 'outcome' }), finishRecord(ctx, req, ex))).finally(() => ex.trace.end(ex.status));
  }
}

/**
 * Answers by which the API server refuses a request on one object before acting on it: malformed, not
 * authenticated or authorised (admission included), not there, a failed precondition or conflict, invalid,
 * throttled. Any other error may come after the work was done: a 406 when the answer cannot be encoded
 * in the media type asked for comes after the delete, a 5xx may come at any point.
 */
const REFUSED_BEFORE_ACTING = new Set([400, 401, 403, 404, 409, 422, 429]);

/**
 * Budgets count what was done: charges of a request that was never sent, or that the API server refused
 * before acting on it, are given back. A request sent whose answer never came, or came as another error,
 * may have been applied, and a deletecollection that fails may have deleted some of its objects first:
 * those stay counted.
 */
async function refundUndone(ex: Exchange): Promise<void> {
  const refunds = ex.budgetRefunds;
  if (!refunds?.length) return;
  const refused = ex.upstreamStatus !== undefined && REFUSED_BEFORE_ACTING.has(ex.upstreamStatus) && ex.info?.verb !== 'deletecollection';
  if (!ex.sent || refused) await Promise.all(refunds.map((r) => r()));
}

function decisionAttributes(d: Decision): Record<string, string> {
  return { 'airlock.decision': d.action, ...(d.matched ? { 'airlock.policy': d.matched.policy, 'airlock.rule': d.matched.rule } : {}) };
}

/** What the request span says of the outcome: who asked, what, and what the policy decided. */
function traceOutcome(ex: Exchange): void {
  const d = ex.decision;
  const info = ex.info;
  ex.trace.set({
    ...(ex.user ? { 'enduser.id': ex.user.username } : {}),
    ...(info ? { 'k8s.verb': info.verb, 'k8s.resource': info.resource ?? '', 'k8s.namespace.name': info.namespace ?? '', ...(info.subresource ? { 'k8s.subresource': info.subresource } : {}) } : {}),
    ...(d ? decisionAttributes(d) : {}),
    ...(ex.approval ? { 'airlock.approval': ex.approval } : {}),
  });
}

async function runStages(ctx: ProxyContext, req: IncomingMessage, ex: Exchange, gate: ResponseGate, upgrade: UpgradeRequest | undefined): Promise<void> {
  // admit: identity headers refused, path normalised, method and upgrade checked, agent authenticated.
  const admitted = await ex.trace.stage('authn', () => admit(ctx, req, ex, upgrade !== undefined));
  if ('kind' in admitted) {
    req.resume();
    return gate.answer(admitted);
  }
  const { info, user } = admitted;
  ex.deadline = deadlineFor(info, ex.startTime.getTime(), ctx.upstreamTimeoutMs, upgrade !== undefined);

  // rate limits: before anything is read or sent for the request.
  const slot = admitRate(ctx, user, info, upgrade !== undefined || info.watch || isLogFollow(info));
  if ('status' in slot) {
    req.resume();
    return gate.answer(slot.status, undefined, slot.headers);
  }
  ex.releaseSlot = slot.done;

  // body: bounded, parsed, only where the method carries one.
  const body = await readRequestBody(ctx, req, ex.method, upgrade !== undefined);
  if (isKubeStatus(body)) return gate.answer(body);
  const parsed: ParsedBody | undefined = body;

  // options: what the API server will really apply (dryRun from the query or a DeleteOptions body, ...).
  let effective: EffectiveOptions;
  try {
    effective = effectiveOptions({ method: ex.method, info, body: parsed?.kind === 'protobuf' ? undefined : parsed?.value });
  } catch (err) {
    if (err instanceof RequestError) return gate.answer(kubeStatus(err.code, err.message, err.reason));
    throw err;
  }

  const sessionId = ctx.recorder?.sessionFor(user);
  const provenance: Record<string, string> = { [AGENT_ANNOTATION]: user.username };
  if (sessionId) provenance[SESSION_ANNOTATION] = sessionId;

  for (let attempt = 0; ; attempt++) {
    const outcome = await judgeAndForward(ctx, req, ex, gate, { info, user, body: parsed, effective, provenance }, attempt, upgrade);
    if (outcome === 'done') return;
  }
}

/** What the earlier stages established about the request. */
interface Admitted {
  info: RequestInfo;
  user: UserInfo;
  body: ParsedBody | undefined;
  effective: EffectiveOptions;
  provenance: Record<string, string>;
}

async function judgeAndForward(
  ctx: ProxyContext,
  req: IncomingMessage,
  ex: Exchange,
  gate: ResponseGate,
  { info, user, body, effective, provenance }: Admitted,
  attempt: number,
  upgrade: UpgradeRequest | undefined,
): Promise<'done' | 'retry'> {
  // subject: the object that would result (probes as the agent, answers held back for the gate).
  // Signed only when a probe is made (most requests need none).
  let probeIdentity: OutgoingHttpHeaders | undefined;
  const deadline = ex.deadline!;
  const probe: ProbeContext = {
    up: ctx.upstream,
    user,
    endBy: deadline.endBy ?? deadline.answerBy,
    get identity() {
      return (probeIdentity ??= identityFor(ctx, user, info, info.verb, body?.value, true));
    },
  };
  let resolved;
  try {
    resolved = await ex.trace.stage('dry-run', () => resolveSubject(probe, info, ex.method, body, effective, provenance, ctx.masker));
  } catch (err) {
    // The API server cut a probe off (connection reset, timeout): nothing was judged, nothing forwarded.
    if (isDeadlineExceeded(err)) {
      gate.answer(timeoutStatus(deadline, 'a request made to judge this one'));
      return 'done';
    }
    if (!isConnectionError(err)) throw err;
    gate.answer(kubeStatus(502, `airlock: the API server did not answer a request made to judge this one (${(err as Error).message}); nothing was forwarded, retry`, 'ServiceUnavailable'));
    return 'done';
  }
  if ('failed' in resolved) {
    gate.probeFailure(resolved.failed, maskView(info, user, STRICTEST_MASKING, resolved.knownValues, false));
    return 'done';
  }
  if ('refuse' in resolved) {
    gate.answer(resolved.refuse, maskView(info, user, STRICTEST_MASKING, resolved.knownValues, false));
    return 'done';
  }
  const subject = resolved.subject;
  // A protobuf body is recorded as the object the API server decoded from it (its dry run).
  if (subject.body !== undefined) ex.requestBody = Buffer.isBuffer(subject.body) ? subject.object : subject.body;
  const strictView = maskView(info, user, STRICTEST_MASKING, subject.knownValues, false);

  // guard: values that would move out of masking's sight, or be probed for.
  const unsafe = refuseUnsafeWrite(
    { resource: info.resource, object: subject.object, oldObject: subject.oldObject, hidden: subject.liveValues ?? [] },
    { masker: ctx.masker, target: strictView.target, rules: STRICTEST_MASKING },
  );
  if (unsafe) {
    gate.answer(unsafe, strictView);
    return 'done';
  }

  // judge: the engine on every judged variant; holds wait for (or point to) an Approval.
  const nsLabels = await namespaceLabels(ctx, info.namespace);
  const judge = async (execTarget?: ExecTarget) => {
    const judged = judgedAttributes(info, user, ex.method, effective, subject, nsLabels, execTarget);
    const checker = ctx.serviceAccounts;
    if (checker) await Promise.all(judged.map((a) => enrichServiceAccounts(a, checker, ctx.engine)));
    await Promise.all(judged.map((a) => enrichAdoptions(a, orphanLister(ctx, user, probe.endBy))));
    return { variants: judged, decision: decideAll(ctx.engine, judged) };
  };
  const judgeTraced = (execTarget?: ExecTarget) =>
    ex.trace.stage('judge', async (span) => {
      const judgement = await judge(execTarget);
      span.set(decisionAttributes(judgement.decision));
      return judgement;
    });
  let { variants, decision } = await judgeTraced();
  // exec/attach: unless it is denied anyway, judged again knowing the pod it goes to (read as the agent):
  // its credential mounts are policy input, and the output masker needs its secret values.
  let execPod: { pod: Record<string, unknown>; target: ExecTarget } | undefined;
  if (upgrade && isExecOrAttach(info) && decision.agent && decision.action !== 'deny') {
    const read = await readExecPod(probe, info, typeof effective.options.container === 'string' ? effective.options.container : undefined);
    if ('failed' in read) {
      gate.probeFailure(read.failed, strictView);
      return 'done';
    }
    if ('refuse' in read) {
      gate.answer(read.refuse, strictView);
      return 'done';
    }
    execPod = read;
    ({ variants, decision } = await judgeTraced(read.target));
  }
  ex.decision = decision;
  if (decision.audits.length) ctx.audit?.record(decision.audits, variants[0]!, { group: info.apiGroup, version: info.apiVersion, kind: String(subject.object?.kind ?? subject.oldObject?.kind ?? '') });
  const view = maskView(info, user, decision.masking, subject.knownValues, decision.recording.enabled && decision.recording.bodies);
  view.warnings = auditWarnings(decision.audits);

  // budgets: what the judge lets through is counted (across replicas); a spent budget holds or refuses it.
  const counting: BudgetCounting | undefined = effective.dryRun || ex.budgetsCharged ? undefined : { ctx, ex, user, variants, itemCount: subject.items?.length ?? 0 };
  if (counting) {
    const budgeted = await budgetsBeforeVerdict(counting, decision);
    if ('status' in budgeted) {
      gate.answer(budgeted.status, view, budgeted.headers);
      return 'done';
    }
    decision = ex.decision = budgeted.decision;
    view.warnings.push(...budgeted.warnings);
  }
  const judged = decision;
  const verdict = await ex.trace.stage('judge', (span) => {
    span.set(decisionAttributes(judged));
    return verdictFor(judged, variants[0]!, ctx.approvals, judged.action === 'hold' ? goneSignal(gate) : undefined);
  });
  ex.approval = verdict.approval;
  if (!verdict.forward) {
    gate.answer(verdict.status, view); // not sent: its charges are given back when it ends (refundUndone)
    return 'done';
  }
  if (counting && judged.action === 'hold') {
    const refused = await budgetsAfterApproval(counting, judged, verdict.approval);
    if (refused) {
      gate.answer(refused.status, view, refused.headers);
      return 'done';
    }
  }

  // pods/log: the log masker knows the pod's secret values too (a program logging its own database
  // password has no detector shape). Where they cannot be read, the log is masked as before: by detectors
  // and patterns (the request itself goes to the API server, which answers for a pod that is not there).
  let logLimit: { agent: number; upstream: number } | undefined;
  if (isPodLog(info) && decision.masking?.logs) {
    const known = (await podLogValues(ctx, probe, info, decision.masking)).filter((v): v is string => typeof v === 'string');
    // The log masker works on text: values that are not UTF-8 cannot appear in it as such.
    view.target.knownValues = [...(view.target.knownValues ?? []), ...known];
    // limitBytes would cut a value short of its whole spelling, where the masker no longer knows it: the
    // log is asked for with room for the longest value, masked, and cut for the agent after that.
    const limit = Number(info.params.get('limitBytes'));
    if (known.length && Number.isSafeInteger(limit) && limit > 0) {
      const room = 64 + 2 * Math.max(...known.map((v) => Buffer.byteLength(v, 'utf8')));
      logLimit = { agent: limit, upstream: limit + room };
      view.limitBytes = limit;
    }
  }

  // record (ahead): a write is durable in the recording before it is sent; a read is refused while
  // records cannot be made durable, unless the policy lets reads through unrecorded.
  const writes = upgrade !== undefined || (MUTATING_METHODS.has(ex.method) && !effective.dryRun);
  if (!writes) {
    const refused = refuseUnrecordableRead(ctx, ex);
    if (refused) {
      gate.answer(refused, view);
      return 'done';
    }
  }

  if (upgrade) {
    if (decision.action === 'mutate') {
      gate.answer(kubeStatus(403, denyMessage(decision, 'a stream cannot be mutated'), 'Forbidden'), view);
      return 'done';
    }
    // The output masker knows the pod's secret values (read as the proxy, once the exec is allowed).
    let output: ExecOutput | undefined;
    if (execPod && decision.masking && ctx.masker?.execOutput) {
      const known = await readTargetValues(ctx.upstream, execPod.pod, decision.masking, probe.endBy);
      const maskers = 'refuse' in known ? known : execMaskers(ctx.masker.execOutput.bind(ctx.masker), decision.masking, known.values, info);
      if ('refuse' in maskers) {
        gate.answer(maskers.refuse, view);
        return 'done';
      }
      output = { maskers, podUID: execPod.target.podUID };
    }
    const refused = await tracedIntent(ctx, req, ex, { attempt, objectName: info.name });
    if (refused) {
      gate.answer(refused, view);
      return 'done';
    }
    await ex.trace.stage('upstream', (span) => {
      const identity = identityFor(ctx, user, info, info.verb, undefined, false);
      span.inject(identity);
      return forwardUpgrade(ctx, req, ex, gate, { info, user, decision, view, identity, head: upgrade.head, ...(output ? { output } : {}) });
    });
    return 'done';
  }

  // mutate: the policy's patch applied to what is forwarded.
  let out: Outgoing = outgoingFor(info, ex.method, subject);
  if (logLimit) {
    const params = new URLSearchParams(info.params);
    params.set('limitBytes', String(logLimit.upstream));
    out = { ...out, path: `${info.path}?${params.toString()}` };
  }
  if (decision.action === 'mutate') {
    const mutated = mutate(decision, info, ex.method, subject);
    if ('kind' in mutated) {
      gate.answer(mutated, view);
      return 'done';
    }
    out = mutated;
  }
  if (writes) {
    const base = isObj(subject.oldObject?.metadata) ? subject.oldObject.metadata.resourceVersion : undefined;
    const refused = await tracedIntent(ctx, req, ex, {
      attempt,
      objectName: info.name ?? (info.verb === 'create' ? createdName(out.body) : undefined),
      ...(typeof base === 'string' ? { baseResourceVersion: base } : {}),
    });
    if (refused) {
      gate.answer(refused, view);
      return 'done';
    }
  }
  const retriable = subject.pinned && decision.action !== 'hold' && attempt < MAX_CONFLICT_RETRIES;
  return forwardHttp(ctx, req, ex, gate, { info, user, out, view, deadline, dryRun: effective.dryRun, writes, retriable });
}

/** The write-ahead intent (record.ts writeIntent) in a record span of its own. */
function tracedIntent(ctx: ProxyContext, req: IncomingMessage, ex: Exchange, at: IntentAttempt): Promise<KubeStatus | undefined> {
  return ex.trace.stage('record', (span) => {
    span.set({ 'airlock.record': 'intent' });
    return writeIntent(ctx, req, ex, at);
  });
}

/** What the forward stage sends, and how. */
interface Forward {
  info: RequestInfo;
  user: UserInfo;
  out: Outgoing;
  view: MaskView;
  deadline: Deadline;
  dryRun: boolean;
  /** Whether it changes the cluster (a write that is not a dry run). */
  writes: boolean;
  /** A 409 from our resourceVersion precondition means: judge again. */
  retriable: boolean;
}

/** forward + respond: the request upstream as the agent, its answer through the gate. */
function forwardHttp(ctx: ProxyContext, req: IncomingMessage, ex: Exchange, gate: ResponseGate, { info, user, out, view, deadline, dryRun, writes, retriable }: Forward): Promise<'done' | 'retry'> {
  const masked = !!(ctx.masker && view.rules && ctx.masker.needsMasking(view.target, view.rules));
  const headers: OutgoingHttpHeaders = { ...forwardableHeaders(req.headers), ...identityFor(ctx, user, info, verbOfMethod(out.method, info), out.body, dryRun) };
  let path = out.path;
  if (masked) {
    headers.accept = jsonOnlyAccept(req.headers.accept);
    delete headers['accept-encoding'];
    path = withFullTableObjects(info, headers.accept, path, view);
  }
  let payload: string | Buffer | undefined;
  if (out.body !== undefined) {
    payload = Buffer.isBuffer(out.body) ? out.body : JSON.stringify(out.body);
    headers['content-type'] = out.contentType;
    headers['content-length'] = Buffer.byteLength(payload);
  }
  const upstreamSpan = ex.trace.begin('upstream');
  upstreamSpan.inject(headers);
  return new Promise((resolve) => {
    const sentAt = process.hrtime.bigint();
    const up = ctx.upstream.request(out.method, path, headers, { answerBy: deadline.answerBy, ...(deadline.endBy !== undefined ? { endBy: deadline.endBy } : {}) });
    gate.onAgentGone(() => up.destroy());
    up.on('error', (err) => {
      upstreamSpan.end(err);
      if (gate.agentGone) {
        // We cut the upstream call because the agent left: that is what the record says.
        gate.abort();
        ex.reason = `the agent went away before the answer${writes ? '; the write may or may not have been applied' : ''}`;
      } else if (gate.started) gate.abort();
      else if (isDeadlineExceeded(err)) gate.answer(timeoutStatus(deadline, 'the request'), view);
      else {
        // Once a write was sent, a broken connection says nothing about whether it was applied.
        const applied = writes ? '; the write was sent and may or may not have been applied' : '';
        gate.answer(kubeStatus(502, `airlock: the connection to kube-apiserver failed (${err.message})${applied}`, 'ServiceUnavailable'), view);
      }
      resolve('done');
    });
    up.on('response', (ures) => {
      ex.upstreamStatus = ures.statusCode ?? 0;
      ctx.metrics.upstreamRequestDuration.observe({ verb: ex.verbForMetrics }, elapsed(sentAt));
      upstreamSpan.set({ 'http.response.status_code': ures.statusCode ?? 0 });
      upstreamSpan.end();
      if (ures.statusCode === 409 && retriable) {
        // Our resourceVersion precondition failed: the object changed since it was judged. Judge again.
        ures.resume();
        resolve('retry');
        return;
      }
      const masking = ex.trace.begin('masking');
      masking.set({ 'airlock.masked': masked });
      void gate.relay(ures, view).then(
        () => (masking.end(), resolve('done')),
        (err: unknown) => (masking.end(err), resolve('done')),
      );
    });
    ex.sent = true;
    up.end(payload);
  });
}

/** The secret values a pod's log could carry (the pod read as the agent, its Secrets and ConfigMaps as the proxy), or none. */
async function podLogValues(ctx: ProxyContext, probe: ProbeContext, info: RequestInfo, rules: ResolvedMasking): Promise<(string | Buffer)[]> {
  const read = await readExecPod(probe, info, undefined);
  if (!('pod' in read)) return [];
  const known = await readTargetValues(ctx.upstream, read.pod, rules, probe.endBy);
  return 'values' in known ? known.values : [];
}

/** Lists, as the agent (a read: no token), what a workload's selector would adopt. */
function orphanLister(ctx: ProxyContext, user: UserInfo, endBy: number | undefined): OrphanLister {
  return async (path, labelSelector) => {
    const q = new URLSearchParams({ labelSelector, limit: '500' });
    const res = await ctx.upstream.json('GET', `${path}?${q.toString()}`, ctx.upstream.identity(user), undefined, { endBy });
    if (res.status !== 200) throw new Error(`listing ${path} answered ${res.status}`);
    return orphansOf(res.body);
  };
}

/** Aborts when the agent leaves (an inline hold stops waiting for it); made only for holds. */
function goneSignal(gate: ResponseGate): AbortSignal {
  const ac = new AbortController();
  gate.onAgentGone(() => ac.abort());
  return ac.signal;
}

function isConnectionError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'EPIPE' || code === 'ETIMEDOUT' || /socket hang up|timed out/.test(String((err as Error | undefined)?.message));
}

/** The verb the API server authorises the forwarded request as (a mutation may turn PATCH into PUT/POST). */
function verbOfMethod(method: string, info: RequestInfo): string {
  if (method === 'PUT' && info.verb === 'patch') return 'update';
  if (method === 'POST' && info.verb === 'patch') return 'create';
  return info.verb;
}

/**
 * Identity headers for an upstream call made for this request: impersonation plus a proxied token bound
 * to exactly what admission will see (verb, coordinates, the created object's name, dry run or not).
 */
function identityFor(ctx: ProxyContext, user: UserInfo, info: RequestInfo, verb: string, body: unknown, dryRun: boolean): OutgoingHttpHeaders {
  // A read never reaches admission, so it needs no token (without one, admission would judge it anyway).
  // (Connect subresources reach admission as CONNECT even through a GET.)
  if (READ_VERBS.has(verb) && !UPGRADE_SUBRESOURCES.has(info.subresource ?? '')) return ctx.upstream.identity(user);
  const name = info.name ?? (verb === 'create' ? createdName(body) : undefined);
  const token = ctx.signProxied?.({ user, ...resourceCoordinates(info), verb, ...(name ? { name } : {}), dryRun });
  return ctx.upstream.identity(user, token);
}


/** metadata.name of a created object, JSON or protobuf (empty for generateName: the API server picks it). */
function createdName(body: unknown): string | undefined {
  if (Buffer.isBuffer(body)) return protobufObjectMeta(body).name;
  const meta = isObj(body) && isObj(body.metadata) ? body.metadata : undefined;
  return typeof meta?.name === 'string' && meta.name ? meta.name : undefined;
}


function maskView(info: RequestInfo, user: UserInfo, rules: ResolvedMasking | undefined, knownValues: string[], recordBody: boolean): MaskView {
  const follow = isLogFollow(info);
  return {
    target: { ...resourceCoordinates(info), watch: info.watch, knownValues, view: agentView(user.username, info) },
    rules,
    recordBody: recordBody && !info.watch && !follow,
    flush: info.watch || follow,
  };
}

/**
 * Tables carry cells computed from fields the agent may not see: the full object is asked for upstream
 * so the masker knows the row's values, and reduced afterwards to what the agent asked for.
 */
function withFullTableObjects(info: RequestInfo, accept: OutgoingHttpHeaders['accept'], path: string, view: MaskView): string {
  if (!String(accept ?? '').includes('as=Table')) return path;
  const asked = info.params.get('includeObject') ?? 'Metadata';
  if (asked !== 'None' && asked !== 'Metadata' && asked !== 'Object') return path;
  view.target.tableIncludeObject = asked;
  const params = new URLSearchParams(info.params);
  params.set('includeObject', 'Object');
  return `${info.path}?${params.toString()}`;
}

/** Keeps JSON media ranges of the agent's Accept (incl. ;as=Table variants), or asks for plain JSON. */
export function jsonOnlyAccept(accept: string | undefined): string {
  const kept = (accept ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.split(';')[0]!.trim().toLowerCase() === 'application/json');
  return kept.length ? kept.join(', ') : 'application/json';
}
