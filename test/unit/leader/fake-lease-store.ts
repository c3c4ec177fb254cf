// An in-memory Lease store with the API server's optimistic-concurrency rules (resourceVersion
// preconditions, 409 on conflict or duplicate create, 404 when absent), and per-client partitions to
// simulate a replica that cannot reach the API server.
import { KubeApiError } from '../../../src/k8s/client.js';
import type { Lease, LeaseClient } from '../../../src/operator/leader.js';

export class FakeLeaseStore {
  private objects = new Map<string, Lease>();
  private rv = 1;
  readonly writes: { by: string; holder: string; transitions: number }[] = [];

  clientFor(name: string, opts: { latencyMs?: number } = {}): FakeClient {
    return new FakeClient(this, name, opts.latencyMs ?? 0);
  }

  peek(path: string): Lease | undefined {
    const o = this.objects.get(path);
    return o ? structuredClone(o) : undefined;
  }

  get(path: string): Lease {
    const o = this.objects.get(path);
    if (!o) throw new KubeApiError(404, { kind: 'Status', reason: 'NotFound' }, `GET ${path}: 404 not found`);
    return structuredClone(o);
  }

  create(collection: string, body: Lease, by: string): Lease {
    const path = `${collection}/${body.metadata.name}`;
    if (this.objects.has(path)) throw new KubeApiError(409, { kind: 'Status', reason: 'AlreadyExists' }, `POST ${collection}: 409 already exists`);
    if (body.metadata.resourceVersion) throw new KubeApiError(400, { kind: 'Status', reason: 'BadRequest' }, 'resourceVersion should not be set on objects to be created');
    const stored: Lease = structuredClone({ ...body, metadata: { ...body.metadata, resourceVersion: String(++this.rv) } });
    this.objects.set(path, stored);
    this.writes.push({ by, holder: stored.spec.holderIdentity ?? '', transitions: stored.spec.leaseTransitions ?? 0 });
    return structuredClone(stored);
  }

  replace(path: string, body: Lease, by: string): Lease {
    const cur = this.objects.get(path);
    if (!cur) throw new KubeApiError(404, { kind: 'Status', reason: 'NotFound' }, `PUT ${path}: 404`);
    if (!body.metadata.resourceVersion) throw new KubeApiError(422, { kind: 'Status', reason: 'Invalid' }, 'metadata.resourceVersion: must be specified for an update');
    if (body.metadata.resourceVersion !== cur.metadata.resourceVersion) {
      throw new KubeApiError(409, { kind: 'Status', reason: 'Conflict' }, `PUT ${path}: 409 the object has been modified`);
    }
    const stored: Lease = structuredClone({ ...body, metadata: { ...body.metadata, resourceVersion: String(++this.rv) } });
    this.objects.set(path, stored);
    this.writes.push({ by, holder: stored.spec.holderIdentity ?? '', transitions: stored.spec.leaseTransitions ?? 0 });
    return structuredClone(stored);
  }
}

export class FakeClient implements LeaseClient {
  partitioned = false;
  requests = 0;
  constructor(private readonly store: FakeLeaseStore, private readonly name: string, private readonly latencyMs: number) {}

  private async io<T>(fn: () => T): Promise<T> {
    this.requests++;
    if (this.partitioned) {
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('connect ECONNREFUSED 127.0.0.1:6443');
    }
    // The server applies the write at some point during the round trip; model it half way.
    await new Promise((r) => setTimeout(r, this.latencyMs / 2));
    const v = fn();
    await new Promise((r) => setTimeout(r, this.latencyMs / 2));
    return v;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.io(() => this.store.get(path) as T);
  }
  create<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.io(() => this.store.create(path, body as Lease, this.name) as T);
  }
  replace<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.io(() => this.store.replace(path, body as Lease, this.name) as T);
  }
}
