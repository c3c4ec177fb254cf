// Leader election on a coordination.k8s.io/v1 Lease, over KubeClient only. One replica at a time runs the
// singleton work (Approval expiry, certificate rotation, webhook configuration) behind it.
//
// Safety argument (why there are never two leaders, given clocks that run at about the same rate):
// - every write to the Lease is a PUT carrying the resourceVersion the writer last read, so two candidates
//   racing for the same Lease cannot both succeed (the loser gets 409 Conflict);
// - the leader considers itself leader only until (time it SENT its last successful renew) + renewDeadline;
// - a candidate takes over a Lease held by someone else only after it has seen the same record unchanged
//   for leaseDurationSeconds, measured on its own monotonic clock from the moment it first saw that record,
//   which is after the leader sent it. renewDeadline < leaseDuration, so the old leader has stepped down first.
// - identities are stable across restarts (the pod name; locally the hostname), and each elector also writes
//   a random instance id (annotation airlock.dev/leader-instance). A Lease held by our own identity but
//   another instance is a previous run of this replica that died without releasing it: a freshly started
//   elector takes it over at once instead of waiting for it to expire. (Two live processes given the same
//   identity are a misconfiguration; then the one that was leading sees its renewal conflict with the other
//   instance, steps down, and from then on treats that instance like any other holder.)
// isLeader() checks that deadline synchronously, so a critical section that was starved of CPU (its
// timers late) still sees the truth. Critical sections must still use resourceVersion preconditions on
// what they change: that, not the Lease, is what makes their effects exactly-once.
// Metric: airlock_leader{lease="<name>"} is 1 while this replica leads, else 0.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { isAlreadyExists, isConflict, isNotFound, resourcePath, type KubeClient } from '../k8s/client.js';
import { errorField, silentLogger, type Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';

/** The part of KubeClient the elector needs (narrow, so tests can pass a fake). */
export type LeaseClient = Pick<KubeClient, 'get' | 'create' | 'replace'>;

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
  [k: string]: unknown;
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; [k: string]: unknown };
  spec: LeaseSpec;
}

export interface LeaderElectorOptions {
  client: LeaseClient;
  namespace: string;
  name: string;
  /**
   * Unique among running replicas and stable across restarts (so a restarted replica takes its own stale
   * Lease over at once); default: $POD_NAME, else the hostname.
   */
  identity?: string;
  /** How long a Lease is valid after its last renewal (default 15). */
  leaseDurationSeconds?: number;
  /** How often the leader renews (default 5000). */
  renewIntervalMs?: number;
  /** The leader steps down when it has not renewed successfully for this long (default 10000; < lease duration). */
  renewDeadlineMs?: number;
  /** How often candidates (and a leader whose renewal failed) retry (default 2000). */
  retryIntervalMs?: number;
  /**
   * Called when this replica becomes leader. The signal aborts when leadership ends (lease lost or stop()).
   * If it returns a promise, the elector waits for it to settle before releasing the Lease or campaigning
   * again, so one replica never runs two terms at once.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called when leadership ends (always after a matching onStartedLeading). */
  onStoppedLeading(): void;
  /** Called whenever the observed holder changes (including to this replica). */
  onNewLeader?(identity: string): void;
  /** Where errors talking to the API server or thrown by callbacks are logged (default: nowhere). */
  log?: Logger;
  /** Where airlock_leader is published (default: a registry of the elector's own). */
  metrics?: Pick<Metrics, 'leaderStatus'>;
  /** On stop(), how long to wait for onStartedLeading's promise before giving up on a clean release (default renewDeadlineMs). */
  stopGraceMs?: number;
}

/** metav1.MicroTime format (RFC 3339 with exactly six fractional digits): Go parses that layout strictly. */
export function formatMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function defaultIdentity(env: NodeJS.ProcessEnv = process.env): string {
  const pod = env.POD_NAME?.trim();
  return pod ? pod : hostname();
}

/** The annotation carrying the writing elector's instance id (random per process). */
export const INSTANCE_ANNOTATION = 'airlock.dev/leader-instance';

export function instanceOf(lease: Lease | undefined): string {
  const a = lease?.metadata?.annotations;
  const v = a && typeof a === 'object' ? (a as Record<string, unknown>)[INSTANCE_ANNOTATION] : undefined;
  return typeof v === 'string' ? v : '';
}

/** What a candidate should do next, given the Lease as read (undefined: absent). Pure. */
export type Step =
  | { kind: 'create'; lease: Lease }
  | { kind: 'update'; lease: Lease; takeover: boolean }
  | { kind: 'wait'; holder: string; /** on the observation's clock */ expiresAtMs: number };

export interface Observation {
  resourceVersion?: string;
  /** Local monotonic time when this resourceVersion was first seen. */
  atMs: number;
}

export function holderOf(lease: Lease | undefined): string {
  return lease?.spec?.holderIdentity ?? '';
}

export function decide(p: {
  lease: Lease | undefined;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  observed: Observation;
  /** Wall-clock time, for the Lease's timestamps. */
  nowMs: number;
  /** Monotonic time on the clock of observed.atMs (default nowMs), for expiry. */
  monoMs?: number;
  /** This elector's instance id (undefined: compare identities only). */
  instance?: string;
  /**
   * Whether a Lease held by this identity under another instance is a dead previous run to take over at
   * once (true until this elector has led once; default true). Otherwise it waits for it to expire.
   */
  reclaim?: boolean;
}): Step {
  const now = formatMicroTime(p.nowMs);
  const annotate = (meta: Lease['metadata']): Lease['metadata'] => p.instance === undefined ? meta : {
    ...meta, annotations: { ...((meta.annotations as Record<string, string> | undefined) ?? {}), [INSTANCE_ANNOTATION]: p.instance },
  };
  if (!p.lease) {
    return {
      kind: 'create',
      lease: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: annotate({ name: p.name, namespace: p.namespace }),
        spec: { holderIdentity: p.identity, leaseDurationSeconds: p.leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
      },
    };
  }
  const holder = holderOf(p.lease);
  const sameIdentity = holder === p.identity;
  const mine = sameIdentity && (p.instance === undefined || instanceOf(p.lease) === p.instance);
  const predecessor = sameIdentity && !mine && (p.reclaim ?? true);
  if (holder && !mine && !predecessor) {
    const durationS = p.lease.spec.leaseDurationSeconds && p.lease.spec.leaseDurationSeconds > 0 ? p.lease.spec.leaseDurationSeconds : p.leaseDurationSeconds;
    const expiresAtMs = p.observed.atMs + durationS * 1000;
    if ((p.monoMs ?? p.nowMs) < expiresAtMs) return { kind: 'wait', holder, expiresAtMs };
  }
  const takeover = !mine;
  const transitions = p.lease.spec.leaseTransitions ?? 0;
  return {
    kind: 'update',
    takeover,
    lease: {
      ...p.lease,
      metadata: annotate({ ...p.lease.metadata }),
      spec: {
        ...p.lease.spec,
        holderIdentity: p.identity,
        leaseDurationSeconds: p.leaseDurationSeconds,
        acquireTime: takeover ? now : (p.lease.spec.acquireTime ?? now),
        renewTime: now,
        leaseTransitions: takeover ? transitions + 1 : transitions,
      },
    },
  };
}

/** The Lease as a releasing leader writes it: no holder, so any candidate may take it at once. */
export function released(lease: Lease, nowMs: number): Lease {
  const now = formatMicroTime(nowMs);
  return { ...lease, metadata: { ...lease.metadata }, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now } };
}

export function validateOptions(o: Required<Pick<LeaderElectorOptions, 'leaseDurationSeconds' | 'renewIntervalMs' | 'renewDeadlineMs' | 'retryIntervalMs'>> & { namespace: string; name: string; identity: string }): void {
  const dns = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  if (!dns.test(o.name) || o.name.length > 253) throw new Error(`leader election: invalid lease name ${JSON.stringify(o.name)}`);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(o.namespace) || o.namespace.length > 63) throw new Error(`leader election: invalid namespace ${JSON.stringify(o.namespace)}`);
  if (!o.identity) throw new Error('leader election: identity must not be empty');
  if (!Number.isInteger(o.leaseDurationSeconds) || o.leaseDurationSeconds < 1) throw new Error('leader election: leaseDurationSeconds must be a positive integer');
  for (const [k, v] of [['renewIntervalMs', o.renewIntervalMs], ['renewDeadlineMs', o.renewDeadlineMs], ['retryIntervalMs', o.retryIntervalMs]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`leader election: ${k} must be a positive number`);
  }
  if (o.renewDeadlineMs >= o.leaseDurationSeconds * 1000) throw new Error('leader election: renewDeadlineMs must be shorter than leaseDurationSeconds');
  if (o.renewIntervalMs >= o.renewDeadlineMs) throw new Error('leader election: renewIntervalMs must be shorter than renewDeadlineMs');
  if (o.retryIntervalMs >= o.renewDeadlineMs) throw new Error('leader election: retryIntervalMs must be shorter than renewDeadlineMs');
}

/** Monotonic milliseconds: expiry and deadlines must not move when the wall clock is stepped (NTP). */
const mono = (): number => performance.now();

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export class LeaderElector {
  readonly identity: string;
  readonly leaseLabel: string;
  private readonly o: Required<Omit<LeaderElectorOptions, 'onNewLeader' | 'identity' | 'log' | 'metrics'>> & Pick<LeaderElectorOptions, 'onNewLeader'>;
  private readonly log: Logger;
  private readonly status: Metrics['leaderStatus'];
  private readonly path: string;
  private stopCtl = new AbortController();
  private loop: Promise<void> | undefined;
  private cached: Lease | undefined;
  private observed: Observation = { atMs: 0 };
  private lastHolder = '';
  private lastInstance = '';
  /** Random per elector: tells this run's writes from a previous run's under the same identity. */
  readonly instance = randomUUID();
  /** A Lease held by this identity under another instance is taken at once until this elector has led. */
  private reclaim = true;
  /** Monotonic time until which this replica may act as leader; 0 when not leading. */
  private validUntilMs = 0;
  private term: { ctl: AbortController; work: Promise<void>; wake: AbortController } | undefined;

  constructor(opts: LeaderElectorOptions) {
    const { log, metrics, ...rest } = opts;
    this.identity = opts.identity ?? defaultIdentity();
    this.log = log ?? silentLogger;
    this.status = (metrics ?? createMetrics()).leaderStatus;
    this.o = {
      leaseDurationSeconds: 15,
      renewIntervalMs: 5000,
      renewDeadlineMs: 10000,
      retryIntervalMs: 2000,
      ...rest,
      stopGraceMs: opts.stopGraceMs ?? opts.renewDeadlineMs ?? 10000,
    };
    validateOptions({ ...this.o, identity: this.identity });
    this.path = resourcePath({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespace: opts.namespace });
    this.leaseLabel = opts.name;
    this.status.set({ lease: this.leaseLabel }, 0);
  }

  /** True while this replica holds the Lease and its last renewal is within renewDeadline. */
  isLeader(): boolean {
    return this.term !== undefined && !this.term.ctl.signal.aborted && mono() < this.validUntilMs;
  }

  /** The holder last observed on the Lease ('' when none). */
  leader(): string {
    return this.lastHolder;
  }

  /** Starts campaigning (idempotent). */
  start(): void {
    if (this.loop) return;
    this.stopCtl = new AbortController();
    this.loop = this.run().catch((err: unknown) => this.report(err));
  }

  /** Steps down (waiting for the leader's work to settle), releases the Lease if held, and stops campaigning. */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.stopCtl.abort();
    this.term?.wake.abort();
    await this.loop;
    this.loop = undefined;
  }

  private report(err: unknown): void {
    try {
      this.log.warn('leader election error', { lease: this.leaseLabel, error: errorField(err) });
    } catch {
      /* a failing logger must not break the elector */
    }
  }

  private async run(): Promise<void> {
    const stop = this.stopCtl.signal;
    while (!stop.aborted) {
      const r = await this.attempt(this.o.renewDeadlineMs);
      if (stop.aborted) {
        // Acquired in the same instant as stop(): hand the Lease straight back.
        if (r.ok) await this.release();
        return;
      }
      if (r.ok) {
        await this.lead(r.sentAtMs);
        continue;
      }
      // Wake up exactly when the observed Lease expires if that is sooner than the retry interval.
      const jittered = this.o.retryIntervalMs * (1 + Math.random() * 0.2);
      const untilExpiry = r.expiresAtMs !== undefined ? r.expiresAtMs - mono() + 5 : Infinity;
      await sleep(Math.max(10, Math.min(jittered, untilExpiry)), stop);
    }
  }

  /** One read-decide-write round. Returns ok when this replica holds the Lease afterwards. */
  private async attempt(timeoutMs: number): Promise<{ ok: true; sentAtMs: number } | { ok: false; expiresAtMs?: number }> {
    const opts = { timeoutMs: Math.max(250, Math.ceil(timeoutMs)) };
    let lease: Lease | undefined;
    // A leader renews from its own last write (one request per renewal); everyone else reads first.
    if (this.term && this.ownedBy(this.cached)) lease = this.cached;
    else {
      try {
        lease = await this.o.client.get<Lease>(`${this.path}/${encodeURIComponent(this.o.name)}`, opts);
      } catch (err) {
        if (!isNotFound(err)) {
          this.report(err);
          return { ok: false };
        }
        lease = undefined;
      }
      this.observe(lease);
    }
    const sentAtMs = mono();
    const step = decide({
      lease, namespace: this.o.namespace, name: this.o.name, identity: this.identity,
      leaseDurationSeconds: this.o.leaseDurationSeconds, observed: this.observed, nowMs: Date.now(), monoMs: sentAtMs,
      instance: this.instance, reclaim: this.reclaim,
    });
    if (step.kind === 'wait') return { ok: false, expiresAtMs: step.expiresAtMs };
    try {
      const written = step.kind === 'create'
        ? await this.o.client.create<Lease>(this.path, step.lease, opts)
        : await this.o.client.replace<Lease>(`${this.path}/${encodeURIComponent(this.o.name)}`, step.lease, opts);
      this.cached = written;
      this.observe(written);
      return { ok: true, sentAtMs };
    } catch (err) {
      // Lost a race (409) or the API server is unreachable: read afresh next time.
      this.cached = undefined;
      if (!isConflict(err) && !isAlreadyExists(err)) this.report(err);
      return { ok: false };
    }
  }

  /** Whether the Lease is held by this elector (identity and instance). */
  private ownedBy(lease: Lease | undefined): boolean {
    return lease !== undefined && holderOf(lease) === this.identity && instanceOf(lease) === this.instance;
  }

  /** Whether the last observed Lease is held by someone else (another identity, or another run of ours). */
  private heldByOther(): boolean {
    return this.lastHolder !== '' && (this.lastHolder !== this.identity || this.lastInstance !== this.instance);
  }

  private observe(lease: Lease | undefined): void {
    const rv = lease?.metadata.resourceVersion;
    if (rv !== this.observed.resourceVersion || this.observed.atMs === 0) this.observed = { resourceVersion: rv, atMs: mono() };
    this.lastInstance = instanceOf(lease);
    const holder = holderOf(lease);
    if (holder !== this.lastHolder) {
      this.lastHolder = holder;
      if (holder) {
        try {
          this.o.onNewLeader?.(holder);
        } catch (err) {
          this.report(err);
        }
      }
    }
  }

  /** Runs one term: starts the work, renews until stopped or the renew deadline passes, then steps down. */
  private async lead(acquiredAtMs: number): Promise<void> {
    const ctl = new AbortController();
    const wake = new AbortController();
    this.reclaim = false;
    this.validUntilMs = acquiredAtMs + this.o.renewDeadlineMs;
    let deadlineTimer: NodeJS.Timeout | undefined;
    const armDeadline = (): void => {
      clearTimeout(deadlineTimer);
      deadlineTimer = setTimeout(() => { ctl.abort(); wake.abort(); }, Math.max(0, this.validUntilMs - mono()));
    };
    armDeadline();
    this.status.set({ lease: this.leaseLabel }, 1);
    const work = Promise.resolve()
      .then(() => this.o.onStartedLeading(ctl.signal))
      .then(() => undefined, (err: unknown) => this.report(err));
    this.term = { ctl, work, wake };
    const stop = this.stopCtl.signal;
    try {
      while (!stop.aborted && !ctl.signal.aborted) {
        await sleep(this.o.renewIntervalMs, wake.signal);
        let renewed = false;
        while (!stop.aborted && !ctl.signal.aborted && !renewed) {
          const r = await this.attempt(this.validUntilMs - mono());
          if (r.ok && mono() < this.validUntilMs && !ctl.signal.aborted) {
            this.validUntilMs = r.sentAtMs + this.o.renewDeadlineMs;
            armDeadline();
            renewed = true;
          } else if (r.ok || mono() >= this.validUntilMs) {
            ctl.abort(); // renewed too late (the deadline passed meanwhile): this term is over
          } else if (this.heldByOther()) {
            ctl.abort(); // someone else holds it now (possibly another process with our identity): step down at once
          } else {
            await sleep(Math.min(this.o.retryIntervalMs, Math.max(0, this.validUntilMs - mono())), wake.signal);
          }
        }
      }
    } finally {
      clearTimeout(deadlineTimer);
      const stillHeld = !ctl.signal.aborted && mono() < this.validUntilMs;
      ctl.abort();
      this.validUntilMs = 0;
      this.status.set({ lease: this.leaseLabel }, 0);
      try {
        this.o.onStoppedLeading();
      } catch (err) {
        this.report(err);
      }
      this.term = undefined;
      if (!stop.aborted) {
        // Lost the Lease: wait for this term's work to end before campaigning again.
        await work;
      } else {
        // Graceful stop: release only while the Lease is still ours and the work has ended in time.
        let timer: NodeJS.Timeout | undefined;
        const settled = await Promise.race([
          work.then(() => true),
          new Promise<boolean>((r) => { timer = setTimeout(() => r(false), this.o.stopGraceMs); }),
        ]);
        clearTimeout(timer);
        if (stillHeld && settled) await this.release();
      }
    }
  }

  private async release(): Promise<void> {
    const lease = this.cached;
    if (!lease || !this.ownedBy(lease)) return;
    try {
      this.cached = await this.o.client.replace<Lease>(`${this.path}/${encodeURIComponent(this.o.name)}`, released(lease, Date.now()), { timeoutMs: 5000 });
      this.observe(this.cached);
    } catch (err) {
      // Someone changed it meanwhile (then it is not ours) or the API server is unreachable (it expires).
      this.cached = undefined;
      if (!isConflict(err)) this.report(err);
    }
  }
}
