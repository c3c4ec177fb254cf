// A small list+watch informer: keeps an in-memory cache of a collection, relists when the watch expires
// (410 Gone) or the connection drops (API server restart), with capped exponential backoff.
import { EventEmitter } from 'node:events';
import { KubeApiError, type KubeClient, type WatchHandle } from './client.js';

export interface KObjectMeta { name?: string; namespace?: string; resourceVersion?: string; uid?: string; generation?: number; [k: string]: unknown }
export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: KObjectMeta;
  [k: string]: unknown;
}

export type InformerEvent = 'add' | 'update' | 'delete';

export interface InformerOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Called with errors that caused a relist (for logs/metrics). */
  onError?: (err: unknown) => void;
  maxBackoffMs?: number;
}

const key = (o: { metadata: KObjectMeta }): string => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : String(o.metadata.name));

export class Informer<T extends { metadata: KObjectMeta } = KObject> extends EventEmitter {
  private cache = new Map<string, T>();
  private handle: WatchHandle | undefined;
  private running = false;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  /** Number of full lists done (1 after the first sync; more after relists). */
  relists = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly path: string,
    private readonly opts: InformerOptions = {},
  ) {
    super();
  }

  list(): T[] {
    return [...this.cache.values()];
  }
  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }
  hasSynced(): boolean {
    return this.synced;
  }
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  start(): this {
    if (this.running) return this;
    this.running = true;
    void this.loop();
    return this;
  }

  stop(): void {
    this.running = false;
    this.handle?.stop();
  }

  private selectors(): Record<string, string> {
    const q: Record<string, string> = {};
    if (this.opts.labelSelector) q.labelSelector = this.opts.labelSelector;
    if (this.opts.fieldSelector) q.fieldSelector = this.opts.fieldSelector;
    return q;
  }

  private async relist(): Promise<string> {
    const list = await this.client.get<{ metadata: { resourceVersion: string }; items: T[] }>(this.path, { query: this.selectors() });
    const fresh = new Map<string, T>();
    for (const item of list.items) fresh.set(key(item), item);
    for (const [k, old] of this.cache) if (!fresh.has(k)) this.emit('delete', old);
    for (const [k, obj] of fresh) {
      const old = this.cache.get(k);
      if (!old) this.emit('add', obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('update', obj, old);
    }
    this.cache = fresh;
    this.relists++;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    this.emit('synced');
    return list.metadata.resourceVersion;
  }

  private async loop(): Promise<void> {
    let backoff = 200;
    const max = this.opts.maxBackoffMs ?? 5000;
    while (this.running) {
      try {
        let rv = await this.relist();
        backoff = 200;
        // Watch until the stream ends or expires; continue from the last seen resourceVersion.
        for (;;) {
          if (!this.running) return;
          let expired = false;
          this.handle = this.client.watch(this.path, { ...this.selectors(), resourceVersion: rv, timeoutSeconds: String(240 + Math.floor(Math.random() * 60)) }, (ev) => {
            if (ev.type === 'ERROR') {
              const code = (ev.object as { code?: number }).code;
              if (code === 410) expired = true;
              return;
            }
            const obj = ev.object as unknown as T;
            if (obj.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
            if (ev.type === 'BOOKMARK') return;
            const k = key(obj);
            if (ev.type === 'DELETED') {
              this.cache.delete(k);
              this.emit('delete', obj);
            } else {
              const old = this.cache.get(k);
              this.cache.set(k, obj);
              if (old) this.emit('update', obj, old);
              else this.emit('add', obj);
            }
          });
          await this.handle.done;
          if (expired) break; // relist
        }
      } catch (err) {
        if (!this.running) return;
        this.opts.onError?.(err);
        if (err instanceof KubeApiError && err.status === 410) backoff = 0;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(max, Math.max(200, backoff * 2));
      }
    }
  }
}
