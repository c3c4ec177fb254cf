// Whether kube-apiserver answers: its /readyz is asked at an interval with a short timeout. Airlock's own
// /readyz follows it, so a load balancer stops sending agents to a proxy that can only time out.
import type { KubeClient } from './client.js';

export interface ReachabilityOptions {
  intervalMs?: number;
  timeoutMs?: number;
  /** Failed checks in a row before kube-apiserver counts as unreachable (one success restores it). */
  failuresToUnreachable?: number;
  onChange?: (reachable: boolean, error?: string) => void;
}

export class ApiServerReachability {
  private reachableNow = true;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private checking = false;

  private readonly client: KubeClient;
  private readonly opts: ReachabilityOptions;

  constructor(client: KubeClient, opts: ReachabilityOptions = {}) {
    this.client = client;
    this.opts = opts;
  }

  get reachable(): boolean {
    return this.reachableNow;
  }

  start(): this {
    this.timer = setInterval(() => void this.check(), this.opts.intervalMs ?? 2000);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One check (exported for tests and for a first answer at start-up). */
  async check(): Promise<boolean> {
    if (this.checking) return this.reachableNow;
    this.checking = true;
    try {
      await this.client.request('GET', '/readyz', { timeoutMs: this.opts.timeoutMs ?? 2000, headers: { Accept: 'text/plain' } });
      this.failures = 0;
      this.set(true);
    } catch (err) {
      this.failures++;
      if (this.failures >= (this.opts.failuresToUnreachable ?? 2)) this.set(false, String((err as Error).message ?? err));
    } finally {
      this.checking = false;
    }
    return this.reachableNow;
  }

  private set(reachable: boolean, error?: string): void {
    if (reachable === this.reachableNow) return;
    this.reachableNow = reachable;
    this.opts.onChange?.(reachable, error);
  }
}
