// The thread that runs Rego (see rego.ts): it holds the instantiated policies and evaluates them on request,
// so that the main thread can give up on an evaluation that takes too long and terminate this thread.
// Requests arrive on a MessagePort and are signalled through a shared counter this thread blocks on; each
// answer is posted back on the port and signalled through another counter, which the main thread blocks on
// with Atomics.wait (both sides pick messages up with receiveMessageOnPort).
//
// Self-contained on purpose (no local imports, erasable TypeScript only): under Jest and the strip-types
// benchmarks this file runs as .ts straight from src/, where `./x.js` specifiers would not resolve.
import { readlinkSync } from 'node:fs';
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import * as opaWasm from '@open-policy-agent/opa-wasm';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';

export interface LoadRequest { op: 'load'; seq: number; id: number; module: object; maxPages: number; entrypoint: string }
export interface EvalRequest { op: 'eval'; seq: number; id: number; input: string }
export interface DropRequest { op: 'drop'; id: number }
export type WorkerRequest = LoadRequest | EvalRequest | DropRequest;
export type WorkerReply =
  | { seq: number; ok: true; entrypoints?: string[]; result?: unknown }
  | { seq: number; ok: false; error: string; missing?: boolean };

const loadPolicySync = ((opaWasm as unknown as { default?: typeof opaWasm }).default ?? opaWasm).loadPolicySync;

interface Held { module: object; maxPages: number; entrypoint: string; policy: LoadedPolicy }

function instantiate(h: Omit<Held, 'policy'>): LoadedPolicy {
  return loadPolicySync(h.module as never, { initial: Math.min(5, h.maxPages), maximum: h.maxPages });
}

function errText(e: unknown): string {
  if (e instanceof RangeError && /memory/i.test(e.message)) return `out of memory (${e.message})`;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** The input as the ArrayBuffer of UTF-8 JSON that LoadedPolicy.evaluate accepts (it skips its own stringify). */
function utf8(s: string): ArrayBuffer {
  const b = new TextEncoder().encode(s);
  return (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : b.slice().buffer) as ArrayBuffer;
}

function handle(held: Map<number, Held>, m: LoadRequest | EvalRequest): WorkerReply {
  if (m.op === 'load') {
    const h = { module: m.module, maxPages: m.maxPages, entrypoint: m.entrypoint };
    const policy = instantiate(h);
    held.set(m.id, { ...h, policy });
    return { seq: m.seq, ok: true, entrypoints: Object.keys((policy.entrypoints as Record<string, number> | undefined) ?? {}) };
  }
  const h = held.get(m.id);
  if (!h) return { seq: m.seq, ok: false, error: 'policy not loaded in this worker', missing: true };
  try {
    return { seq: m.seq, ok: true, result: h.policy.evaluate(utf8(m.input), h.entrypoint) };
  } catch (e) {
    // A trap can leave the instance's heap in any state: rebuild it for the next call.
    try { h.policy = instantiate(h); } catch { /* the next evaluation fails again and is reported */ }
    return { seq: m.seq, ok: false, error: errText(e) };
  }
}

/** Shared state: [REQUESTS] bumped by the main thread per request, [ANSWERS] by the worker per answer. */
export const REQUESTS = 0;
export const ANSWERS = 1;
/** The seq of the evaluation under way; `started` holds when it began: [0] process.hrtime, [1] thread CPU time (ns). */
export const RUNNING = 2;
/** This thread's Linux thread id (0 elsewhere), so that the main thread can read its CPU time from /proc. */
export const TID = 3;
export const SIGNAL_SLOTS = 4;

const cpuNs = (): bigint => {
  const u = process.threadCpuUsage();
  return BigInt(u.user + u.system) * 1000n;
};

export function serve(port: MessagePort, signal: Int32Array, started: BigInt64Array): void {
  const held = new Map<number, Held>();
  // Block between requests instead of returning to the event loop: a futex wake is the cheapest hand-off.
  for (;;) {
    const posted = Atomics.load(signal, REQUESTS);
    for (let got = receiveMessageOnPort(port); got; got = receiveMessageOnPort(port)) {
      const m = got.message as WorkerRequest;
      if (m.op === 'drop') { held.delete(m.id); continue; }
      if (m.op === 'eval') {
        Atomics.store(started, 0, process.hrtime.bigint());
        Atomics.store(started, 1, cpuNs());
        Atomics.store(signal, RUNNING, m.seq);
      }
      let reply: WorkerReply;
      try { reply = handle(held, m); } catch (e) { reply = { seq: m.seq, ok: false, error: errText(e) }; }
      port.postMessage(reply);
      Atomics.add(signal, ANSWERS, 1);
      Atomics.notify(signal, ANSWERS);
    }
    Atomics.wait(signal, REQUESTS, posted);
  }
}

const data = workerData as { airlockRego?: { port: MessagePort; signal: Int32Array; started: BigInt64Array } } | null;
if (parentPort && data?.airlockRego) {
  let tid = 0;
  try { tid = Number(readlinkSync('/proc/thread-self').split('/').pop()) || 0; } catch { /* not Linux: wall-clock only */ }
  Atomics.store(data.airlockRego.signal, TID, tid);
  parentPort.postMessage('ready');
  serve(data.airlockRego.port, data.airlockRego.signal, data.airlockRego.started);
}
