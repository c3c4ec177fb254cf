// Per-agent rate limits (AgentPolicy spec.rateLimits): a token bucket per agent and verb class, and a bound
// on the agent's requests in flight. Kept in each replica's memory on purpose: a rate limit protects the
// API server from a burst now, and coordinating replicas per request would cost more than it saves. An
// agent spread over N replicas can therefore reach N times its rate (docs/budgets.md); budgets, which
// bound what is done in a window, are counted across replicas (ledger.ts).
import type { ResolvedBucket, ResolvedRateLimits } from '../policy/compile.js';

export type VerbClass = 'read' | 'write' | 'connect';

/** What a request is, for the limiter. */
export interface LimitedRequest {
  agent: string;
  verbClass: VerbClass;
  /** Watches, exec and log follows: they hold no in-flight slot (they would hold it for hours). */
  longRunning: boolean;
}

export type Admission = { ok: true; done: () => void } | { ok: false; limit: VerbClass | 'in-flight'; retryAfterSeconds: number; message: string };

interface Bucket {
  tokens: number;
  at: number;
  qps: number;
  burst: number;
}

/** Beyond this many agents' buckets, full ones (idle agents) are dropped: they would refill to full anyway. */
const MAX_BUCKETS = 10_000;
/** With priority reads, this share of maxInFlight is kept for reads. */
const READ_RESERVE = 0.25;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly inFlight = new Map<string, number>();
  private readonly now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
  }

  /** Takes a token and an in-flight slot for one request, or says when to retry. Call done() when it ends. */
  admit(req: LimitedRequest, limits: ResolvedRateLimits): Admission {
    const max = limits.maxInFlight;
    const held = this.inFlight.get(req.agent) ?? 0;
    if (max !== undefined && !req.longRunning) {
      const room = req.verbClass === 'read' || limits.priority === 'none' ? max : Math.max(1, max - Math.floor(max * READ_RESERVE));
      if (held >= room) {
        const kept = room < max ? ` (${max - room} of them kept for reads)` : '';
        return { ok: false, limit: 'in-flight', retryAfterSeconds: 1, message: `${req.agent} has ${held} requests in flight, the most its AgentPolicy allows${kept} is ${room}` };
      }
    }
    const spec = limits[req.verbClass];
    if (spec) {
      const wait = this.take(`${req.agent}\u0000${req.verbClass}`, spec);
      if (wait > 0) {
        return { ok: false, limit: req.verbClass, retryAfterSeconds: Math.max(1, Math.ceil(wait)), message: `${req.agent} sent more than ${spec.qps} ${req.verbClass} requests a second (burst ${spec.burst}), the rate its AgentPolicy allows` };
      }
    }
    if (req.longRunning || max === undefined) return { ok: true, done: () => {} };
    this.inFlight.set(req.agent, held + 1);
    let finished = false;
    return {
      ok: true,
      done: () => {
        if (finished) return;
        finished = true;
        const n = (this.inFlight.get(req.agent) ?? 1) - 1;
        if (n > 0) this.inFlight.set(req.agent, n);
        else this.inFlight.delete(req.agent);
      },
    };
  }

  /** Takes one token; returns 0, or the seconds until one is there. */
  private take(key: string, spec: ResolvedBucket): number {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= MAX_BUCKETS) this.dropFull(now);
      b = { tokens: spec.burst, at: now, qps: spec.qps, burst: spec.burst };
      this.buckets.set(key, b);
    }
    // A changed policy takes effect at once, without refilling a drained bucket.
    b.qps = spec.qps;
    b.burst = spec.burst;
    b.tokens = Math.min(b.burst, b.tokens + (Math.max(0, now - b.at) / 1000) * b.qps);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / b.qps;
  }

  private dropFull(now: number): void {
    for (const [k, b] of this.buckets) if (b.tokens + ((now - b.at) / 1000) * b.qps >= b.burst) this.buckets.delete(k);
  }
}
