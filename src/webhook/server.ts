// The validating admission webhook: express 5 over node:https. POST /validate takes AdmissionReviews
// (v1 and v1beta1, answered in the request's apiVersion), /healthz and /readyz for probes. The TLS
// certificate can be replaced at run time (updateCertificate) when the operator rotates it.
import * as https from 'node:https';
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import type { Approval } from '../api/types.js';
import { checkApprovalCreate, checkStatusUpdate, type GuardOptions } from '../approvals/guard.js';
import type { ApprovalService } from '../approvals/types.js';
import { errorField, silentLogger, type Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import type { PolicyEngine } from '../policy/types.js';
import { enrichServiceAccounts, type ServiceAccountChecker } from '../policy/service-account-enrich.js';
import { allow, BadReview, parseReview, reject, reviewResponse, toAttributes, type AdmissionRequest, type AdmissionResponse } from './admission.js';
import type { AuditSink } from './audit.js';
import { PROXIED_EXTRA_KEY, type ProxiedVerdict } from '../identity/proxied-token.js';
import { proxiedCheck } from './proxied.js';
import { auditWarnings, holdVerdict, verdictOf } from '../policy/verdict.js';
import { judgeBudgets, type BudgetDeps } from '../budgets/charge.js';

export const DEFAULT_MAX_BODY = 3 * 1024 * 1024;

export interface WebhookTls { cert: string | Buffer; key: string | Buffer }

export interface WebhookOptions {
  engine: PolicyEngine;
  /** Reload the certificate from these files when they change (e.g. a mounted Secret the operator rotates); polled. */
  certFiles?: { cert: string; key: string; intervalMs?: number };
  /** Needed for hold rules; without it a hold is answered as a deny. */
  approvals?: ApprovalService;
  audit?: AuditSink;
  tls: WebhookTls;
  host?: string;
  port?: number;
  /** Identities whose requests are admitted without policy evaluation (the operator itself: avoids deadlock). */
  exemptUsers?: string[];
  exemptGroups?: string[];
  /**
   * The installation key (src/operator/proxy-marker.ts). Requests forwarded by Airlock's proxy carry the
   * user extra airlock.dev/proxied: a token signed with this key for that one request (identity, verb,
   * resource, namespace, name, dry run, issue time; src/identity/proxied-token.ts). The proxy already
   * judged them, so they are admitted without judging them twice (a held request would otherwise be held
   * again after its Approval was consumed). Any other value, or a token for another request, is judged.
   */
  proxiedKey?: Buffer;
  /** Identities allowed to create Approvals and consume/expire them (the Airlock controller). */
  controllerUsers?: string[];
  controllerGroups?: string[];
  /** Admit on internal errors instead of failing closed (default false). */
  failOpen?: boolean;
  maxBodyBytes?: number;
  /** Labels of a namespace, for policies with namespaceSelector (e.g. from a namespace informer). */
  namespaceLabels?: (namespace: string) => Record<string, string> | undefined;
  /**
   * Finds out what the ServiceAccounts of agents' workloads may do (powerfulServiceAccount). Without it,
   * policies that bound ServiceAccounts deny agents' workload writes (their permissions are unknown).
   */
  serviceAccounts?: ServiceAccountChecker;
  /** Readiness (e.g. policies synced); default always ready. */
  ready?: () => boolean;
  log?: Logger;
  /** Where reviews, connections and sign-offs are counted (default: a registry of the webhook's own). */
  metrics?: Metrics;
  now?: () => number;
  /**
   * Budget counts shared with the proxy (src/budgets/ledger.ts): agents' requests that bypass the proxy are
   * counted here, one admission per object (the API server admits a deletecollection object by object).
   */
  budgets?: Omit<BudgetDeps, 'engine' | 'metrics'>;
}

export interface WebhookServer {
  server: https.Server;
  port: number;
  url: string;
  /** Replaces the serving certificate for new connections (hot reload). */
  updateCertificate(tls: WebhookTls): void;
  /** AdmissionReviews received so far. */
  reviewsServed(): number;
  /** Decides one parsed AdmissionRequest (used by the HTTP handler; exposed for tests and benchmarks). */
  review(req: AdmissionRequest): Promise<AdmissionResponse>;
  close(): Promise<void>;
}

class TooLarge extends Error {}

function readBody(req: Request, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > limit) return reject(new TooLarge(`request body of ${declared} bytes exceeds the ${limit}-byte limit`));
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        reject(new TooLarge(`request body exceeds the ${limit}-byte limit`));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function badRequest(res: Response, message: string, close = false): void {
  if (close) res.setHeader('Connection', 'close');
  res.status(400).json({ apiVersion: 'v1', kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400, message });
}

export async function startWebhook(opts: WebhookOptions): Promise<WebhookServer> {
  const log = opts.log ?? silentLogger;
  const metrics = opts.metrics ?? createMetrics();
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const guardOpts = (): GuardOptions => ({
    controllerUsers: opts.controllerUsers ?? [],
    controllerGroups: opts.controllerGroups ?? [],
    now: (opts.now ?? Date.now)(),
  });
  const checkProxied = opts.proxiedKey ? proxiedCheck(opts.proxiedKey, opts.now) : undefined;
  const proxiedVerdict = (r: AdmissionRequest): ProxiedVerdict | undefined => {
    if (!checkProxied || !Object.hasOwn(r.userInfo.extra ?? {}, PROXIED_EXTRA_KEY)) return undefined;
    const verdict = checkProxied(r);
    // A token that does not verify is judged like any request; worth a line: replay or forgery, or skew.
    if (!verdict.ok && !verdict.collection) log.warn('airlock.dev/proxied token refused; judging the request', { uid: r.uid, user: r.userInfo.username, reason: verdict.reason });
    return verdict;
  };
  const exemptIdentity = (r: AdmissionRequest): boolean =>
    (opts.exemptUsers ?? []).includes(r.userInfo.username ?? '') || (r.userInfo.groups ?? []).some((g) => (opts.exemptGroups ?? []).includes(g));

  /** The forgery guard for Approvals; undefined when the request is not about Approvals. */
  function guardApprovals(r: AdmissionRequest): AdmissionResponse | undefined {
    if (r.resource.group !== 'airlock.dev' || r.resource.resource !== 'approvals') return undefined;
    const who = { username: r.userInfo.username ?? '', ...(r.userInfo.uid ? { uid: r.userInfo.uid } : {}), groups: r.userInfo.groups ?? [] };
    let errs: string[] = [];
    if (r.subResource === 'status' && r.operation === 'UPDATE') {
      if (!r.object || !r.oldObject) return reject(r.uid, 'approvals/status UPDATE without object and oldObject', 400);
      const oldA = r.oldObject as unknown as Approval;
      const newA = r.object as unknown as Approval;
      errs = checkStatusUpdate(oldA, newA, who, guardOpts());
      // Count sign-offs as they are admitted (the write itself may still lose a resourceVersion race).
      const [from, to] = [oldA.status?.phase ?? 'Pending', newA.status?.phase ?? 'Pending'];
      if (!errs.length && !r.dryRun && from !== to && (to === 'Approved' || to === 'Denied')) metrics.approvalsTotal.inc({ event: to.toLowerCase() });
    } else if (!r.subResource && r.operation === 'CREATE') {
      errs = checkApprovalCreate(who, guardOpts());
    }
    if (errs.length) return reject(r.uid, `Approval ${r.name ?? ''} rejected: ${errs.join('; ')}`);
    return undefined;
  }

  async function review(r: AdmissionRequest): Promise<AdmissionResponse> {
    const guarded = guardApprovals(r);
    if (guarded) return guarded;
    const viaProxy = proxiedVerdict(r);
    if (viaProxy?.ok || exemptIdentity(r)) return allow(r.uid);
    const attrs = toAttributes(r, r.namespace ? opts.namespaceLabels?.(r.namespace) : undefined);
    if (opts.serviceAccounts) await enrichServiceAccounts(attrs, opts.serviceAccounts, opts.engine);
    const d = opts.engine.decide(attrs); // the engine records airlock_decisions_total and its own latency
    if (d.audits.length && opts.audit) opts.audit.record(d.audits, attrs, r.kind ?? { group: attrs.apiGroup, version: attrs.apiVersion, kind: '' });
    const warnings = auditWarnings(d.audits);
    // Budgets, as the proxy counts them: an allowed write is charged, a held one checked first.
    // The objects of a deletecollection the proxy judged are judged again, but the proxy counted them already.
    const counted = viaProxy !== undefined && !viaProxy.ok && viaProxy.collection === true;
    const budgets = opts.budgets && !attrs.dryRun && !counted ? { ...opts.budgets, engine: opts.engine, metrics } : undefined;
    let judged = d;
    if (budgets && d.action === 'allow') {
      const out = await judgeBudgets(budgets, attrs.user, d, [attrs], 0, 'charge');
      if (out.kind === 'refuse') return reject(r.uid, out.message, out.code, warnings);
      if (out.kind === 'hold') judged = out.decision;
      else warnings.push(...out.warnings);
    }
    // The same decision core as the proxy (src/policy/verdict.ts): same verdicts, same messages.
    let verdict = verdictOf(judged, false);
    if (judged.action === 'hold' && opts.approvals) {
      // Deny budgets first, given back unless admitted (as the proxy does: approved retries cannot race past).
      const held = budgets ? await judgeBudgets(budgets, attrs.user, judged, [attrs], 0, 'hold') : undefined;
      if (held?.kind === 'refuse') return reject(r.uid, held.message, held.code, warnings);
      const out = await opts.approvals.hold(attrs, judged);
      verdict = holdVerdict(judged, { ...out, persisted: !attrs.dryRun });
      if (!verdict.admit && held?.kind === 'charged') await held.release();
      if (verdict.admit && budgets) {
        const charged = await judgeBudgets(budgets, attrs.user, judged, [attrs], 0, 'approved', verdict.approval);
        if (charged.kind === 'refuse') return reject(r.uid, charged.message, charged.code, warnings);
      }
    }
    if (verdict.admit) return allow(r.uid, verdict.approval ? [...warnings, `airlock: admitted with Approval ${verdict.approval}`] : warnings);
    return reject(r.uid, verdict.message, 403, warnings);
  }

  const app = express();
  app.disable('x-powered-by');
  // AdmissionReview answers are never cached or revalidated: hashing each one for an ETag is pure cost.
  app.disable('etag');
  app.get('/healthz', (_req, res) => { res.type('text/plain').send('ok'); });
  app.get('/readyz', (_req, res) => {
    const ok = opts.ready ? opts.ready() : true;
    res.status(ok ? 200 : 503).type('text/plain').send(ok ? 'ok' : 'not ready');
  });
  let reviews = 0;
  app.post('/validate', async (req, res) => {
    reviews++;
    const started = process.hrtime.bigint();
    let result = 'error';
    try {
      let raw: Buffer;
      try {
        raw = await readBody(req, limit);
      } catch (err) {
        if (err instanceof TooLarge) return badRequest(res, err.message, true);
        throw err;
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return badRequest(res, 'body is not valid JSON: expected an AdmissionReview');
      }
      let review_;
      try {
        review_ = parseReview(body);
      } catch (err) {
        if (err instanceof BadReview) return badRequest(res, `invalid AdmissionReview: ${err.message}`);
        throw err;
      }
      let response: AdmissionResponse;
      try {
        response = await review(review_.request);
      } catch (err) {
        log.error('admission review failed', { uid: review_.request.uid, error: errorField(err) });
        const msg = `airlock webhook internal error: ${String((err as Error)?.message ?? err).slice(0, 500)}`;
        response = opts.failOpen ? allow(review_.request.uid, [`${msg} (admitted: failOpen)`]) : reject(review_.request.uid, `${msg} (failing closed)`, 500);
      }
      result = response.allowed ? 'allowed' : 'denied';
      res.json(reviewResponse(review_.apiVersion, response));
    } finally {
      metrics.webhookRequestDuration.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  });
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ apiVersion: 'v1', kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: 'not found: POST /validate, GET /healthz, GET /readyz' });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: (e?: unknown) => void) => {
    log.error('unhandled error', { error: errorField(err) });
    if (!res.headersSent) res.status(500).json({ apiVersion: 'v1', kind: 'Status', status: 'Failure', reason: 'InternalError', code: 500, message: 'internal error' });
  });

  const server = https.createServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, app);
  server.on('secureConnection', () => metrics.webhookConnectionsTotal.inc());
  server.headersTimeout = 15_000;
  server.requestTimeout = 35_000;
  await new Promise<void>((resolve, reject_) => {
    server.once('error', reject_);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject_);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  // Mounted Secret files change in two steps (cert and key, or an atomic symlink swap): poll both, and
  // switch only to a pair that matches, so a half-written pair is never served and a later tick retries.
  let loadedPair = '';
  let pairTimer: NodeJS.Timeout | undefined;
  const reload = (): void => {
    if (!opts.certFiles) return;
    let cert: string;
    let key: string;
    try {
      cert = readFileSync(opts.certFiles.cert, 'utf8');
      key = readFileSync(opts.certFiles.key, 'utf8');
    } catch {
      return; // mid-swap: try again next tick
    }
    const pair = cert + '\0' + key;
    if (pair === loadedPair) return;
    try {
      if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) return; // one half not updated yet
      server.setSecureContext({ cert, key, minVersion: 'TLSv1.2' });
      loadedPair = pair;
      log.info('serving certificate reloaded', { cert: opts.certFiles.cert });
    } catch (err) {
      log.warn('serving certificate reload failed; keeping the previous one', { error: errorField(err) });
    }
  };
  if (opts.certFiles) {
    loadedPair = String(opts.tls.cert) + '\0' + String(opts.tls.key);
    pairTimer = setInterval(reload, opts.certFiles.intervalMs ?? 5000);
    pairTimer.unref();
  }
  const host = opts.host ?? '127.0.0.1';
  return {
    server,
    port,
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    reviewsServed: () => reviews,
    updateCertificate(tls) {
      server.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' });
    },
    review,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(pairTimer);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
