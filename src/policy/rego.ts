// The Rego escape hatch: a policy compiled to wasm (opa build -t wasm), evaluated with
// @open-policy-agent/opa-wasm inside a capped WebAssembly.Memory and within a time budget. Loading is async
// (upsert); evaluation is synchronous (decide).
//
// A wasm call cannot be interrupted on the thread that makes it, so the instances live in one worker thread
// (rego-worker.ts) shared by every RegoEvaluator of the process. evaluate() posts the input (as JSON) to the
// worker and blocks on Atomics.wait until the answer is signalled or the budget runs out (CPU time of the
// worker thread where Linux /proc tells it, so that a busy or throttled node does not fail policies; capped
// in wall-clock time; see RegoWorker.call). On timeout the worker is terminated and a fresh one started; every policy is loaded again into it on its next use, and
// the caller gets a RegoError and fails closed. A trap (out of memory, stack overflow) re-instantiates the
// module inside the worker for the next call and is reported the same way.
//
// Nothing happens at import: the worker starts when the first Rego policy is loaded, is unref'd (it never
// keeps the process alive), and is terminated when no loaded policy is left (release(), Engine.close(), or
// garbage collection of the evaluators).
import { readFileSync } from 'node:fs';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { RegoRef } from '../api/types.js';
import type { Explanation, RequestAttributes } from './types.js';
import { ANSWERS, REQUESTS, RUNNING, SIGNAL_SLOTS, TID, type EvalRequest, type LoadRequest, type WorkerReply, type WorkerRequest } from './rego-worker.js';

type Call = Omit<LoadRequest, 'seq'> | Omit<EvalRequest, 'seq'>;

export const DEFAULT_REGO_MEMORY_MIB = 32;
export const DEFAULT_REGO_TIMEOUT_MS = 100;
export const MAX_REGO_TIMEOUT_MS = 1000;
export const DEFAULT_REGO_KEY = 'policy.wasm';
const PAGE = 64 * 1024;
/** How long loading a policy into a worker may take, including the start of a fresh worker thread. */
const LOAD_TIMEOUT_MS = 10_000;
/** How long an evaluation may wait for the worker to pick it up before the worker counts as unresponsive. */
const PICKUP_GRACE_MS = 1000;
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
/** The wall-clock limit of an evaluation whose worker is short of CPU: a starved node cannot block us forever. */
const wallClockCap = (budgetMs: number): number => Math.max(10 * budgetMs, budgetMs + 1000);

// lib is ES2023 without DOM, so WebAssembly has no ambient types here: declare the little we use.
type WasmModule = object;
interface WasmModuleCtor { new (bytes: Uint8Array): WasmModule; exports(m: WasmModule): { name: string; kind: string }[] }
const WA = (globalThis as unknown as { WebAssembly: { Module: WasmModuleCtor } }).WebAssembly;
const MAX_MESSAGES = 32;

export type ConfigMapLoader = (namespace: string, name: string, key: string) => Promise<Uint8Array>;

export interface RegoOutcome { violation: boolean; messages: string[] }

export class RegoError extends Error {
  override name = 'RegoError';
}

/** One worker thread and its channel. Replaced (never reused) after a timeout or a crash. */
class RegoWorker {
  readonly thread: Worker;
  readonly port: MessagePort;
  /** Counters and the evaluation under way: see REQUESTS, ANSWERS and RUNNING in rego-worker.ts. */
  readonly signal = new Int32Array(new SharedArrayBuffer(4 * SIGNAL_SLOTS));
  /** When the evaluation under way began: process.hrtime (a clock all threads share) and the worker's CPU time, ns. */
  readonly started = new BigInt64Array(new SharedArrayBuffer(16));
  /** Evaluator ids instantiated in this worker. */
  readonly loaded = new Set<number>();
  readonly ready: Promise<void>;
  dead = false;
  /** Terminated by us (timeout, idle), as opposed to crashed. */
  killed = false;
  private seq = 0;

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    // Under Jest and strip-types runs this module is rego.ts in src/, next to rego-worker.ts; compiled, .js.
    const file = new URL(import.meta.url.endsWith('.ts') ? './rego-worker.ts' : './rego-worker.js', import.meta.url);
    this.thread = new Worker(file, { workerData: { airlockRego: { port: port2, signal: this.signal, started: this.started } }, transferList: [port2] });
    this.thread.unref();
    // Events are only seen while the main thread is not blocked; a crash during a blocking call shows as a timeout.
    this.thread.on('error', () => { this.dead = true; });
    this.thread.on('exit', () => { this.dead = true; });
    this.ready = new Promise<void>((resolve, reject) => {
      this.thread.once('message', () => resolve());
      this.thread.once('error', reject);
      this.thread.once('exit', (code) => reject(new Error(`Rego worker exited with code ${code} while starting`)));
    });
    this.ready.catch(() => { /* reported by whoever awaits it */ });
  }

  /** CPU time the worker thread has used since the evaluation under way began (ms), where /proc tells. */
  private cpuSinceStart(): number | undefined {
    const tid = Atomics.load(this.signal, TID);
    if (!tid) return undefined;
    try {
      const total = BigInt(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ')[0]!);
      return Number(total - Atomics.load(this.started, 1)) / 1e6;
    } catch {
      return undefined;
    }
  }

  /**
   * Posts a request and blocks until its answer. A load gets `timeoutMs` in all. An evaluation gets
   * `timeoutMs` of the worker's CPU time from the moment the worker starts it, so that CPU starvation
   * (throttling, a busy node) does not count against the policy, but no more than wallClockCap(timeoutMs)
   * of wall-clock time; waiting for the worker to pick it up (up to PICKUP_GRACE_MS) does not count. Where
   * the thread's CPU time cannot be read, wall-clock time is used. On timeout the worker is terminated.
   */
  call(req: Call, timeoutMs: number): WorkerReply | 'timeout' | 'starved' | 'unresponsive' {
    const seq = ++this.seq;
    let seen = Atomics.load(this.signal, ANSWERS);
    this.port.postMessage({ ...req, seq });
    Atomics.add(this.signal, REQUESTS, 1);
    Atomics.notify(this.signal, REQUESTS);
    const posted = nowMs();
    const pickup = req.op === 'eval' ? PICKUP_GRACE_MS : 0;
    for (;;) {
      const got = receiveMessageOnPort(this.port) as { message: WorkerReply } | undefined;
      if (got) {
        if (got.message.seq === seq) return got.message;
        continue; // an answer nobody waits for any more (cannot happen with one call at a time)
      }
      const running = req.op === 'eval' && Atomics.load(this.signal, RUNNING) === seq;
      let left: number;
      if (running) {
        const began = Number(Atomics.load(this.started, 0)) / 1e6;
        const wall = nowMs() - began;
        left = timeoutMs - wall;
        if (left <= 0) {
          const cpu = this.cpuSinceStart();
          if (cpu !== undefined && cpu < timeoutMs && wall < wallClockCap(timeoutMs)) left = Math.min(timeoutMs - cpu, wallClockCap(timeoutMs) - wall);
          else { void this.kill(); return cpu === undefined || cpu >= timeoutMs ? 'timeout' : 'starved'; }
        }
      } else {
        left = posted + timeoutMs + pickup - nowMs();
        if (left <= 0) { void this.kill(); return req.op === 'load' ? 'timeout' : 'unresponsive'; }
        left = Math.min(left, timeoutMs); // not started yet: look again when the budget would run out had it started now
      }
      Atomics.wait(this.signal, ANSWERS, seen, Math.max(left, 0.1));
      seen = Atomics.load(this.signal, ANSWERS);
    }
  }

  post(req: WorkerRequest): void {
    if (this.dead) return;
    this.port.postMessage(req);
    Atomics.add(this.signal, REQUESTS, 1);
    Atomics.notify(this.signal, REQUESTS);
  }

  kill(): Promise<unknown> {
    this.dead = true;
    this.killed = true;
    this.loaded.clear();
    this.port.close();
    if (current === this) current = undefined;
    return this.thread.terminate().catch(() => undefined);
  }
}

let current: RegoWorker | undefined;
let nextId = 1;
/** Loads waiting for a worker to start: an idle worker is not terminated under them. */
let pendingLoads = 0;

function worker(): RegoWorker {
  if (!current || current.dead) current = new RegoWorker();
  return current;
}

/** Whether a Rego worker thread is running, and how many policy instances it holds (for tests and status). */
export function regoWorkerState(): { running: boolean; instances: number } {
  return { running: !!current && !current.dead, instances: current && !current.dead ? current.loaded.size : 0 };
}

/** Frees the instance in the worker; terminates the worker once it holds nothing. */
function drop(id: number): Promise<unknown> {
  const w = current;
  if (!w) return Promise.resolve();
  if (w.loaded.delete(id)) w.post({ op: 'drop', id });
  if (w.loaded.size === 0 && pendingLoads === 0) return w.kill();
  return Promise.resolve();
}

// An evaluator nobody references any more frees its instance in the worker (created with the first evaluator).
let finalizer: FinalizationRegistry<number> | undefined;

export class RegoEvaluator {
  private readonly id = nextId++;
  private readonly module: WasmModule;
  private readonly maxPages: number;
  private readonly mib: number;
  readonly entrypoint: string;
  readonly timeoutMs: number;
  private constructor(module: WasmModule, maxPages: number, mib: number, entrypoint: string, timeoutMs: number) {
    this.module = module;
    this.maxPages = maxPages;
    this.mib = mib;
    this.entrypoint = entrypoint;
    this.timeoutMs = timeoutMs;
    finalizer ??= new FinalizationRegistry<number>((id) => { void drop(id); });
    finalizer.register(this, this.id, this);
  }

  /** Instantiates in the worker (blocking); returns its entrypoints, or throws RegoError. */
  private loadInto(w: RegoWorker): string[] {
    const reply = w.call({ op: 'load', id: this.id, module: this.module, maxPages: this.maxPages, entrypoint: this.entrypoint }, LOAD_TIMEOUT_MS);
    if (typeof reply === 'string') throw new RegoError(`cannot instantiate policy: the Rego worker did not answer within ${LOAD_TIMEOUT_MS} ms`);
    if (!reply.ok) throw new RegoError(`cannot instantiate policy (memory limit ${this.mib} MiB): ${reply.error}`);
    w.loaded.add(this.id);
    return reply.entrypoints ?? [];
  }

  /** Compiles and instantiates a policy; throws RegoError with a readable message on any problem. */
  static async load(ref: RegoRef, loadConfigMap?: ConfigMapLoader): Promise<RegoEvaluator> {
    let bytes: Uint8Array;
    if (ref.wasmBase64 !== undefined && ref.configMapRef !== undefined) throw new RegoError('set exactly one of wasmBase64 or configMapRef');
    if (ref.wasmBase64 !== undefined) {
      if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(ref.wasmBase64)) throw new RegoError('wasmBase64 is not valid base64');
      bytes = Buffer.from(ref.wasmBase64, 'base64');
    } else if (ref.configMapRef) {
      const { namespace, name } = ref.configMapRef;
      const key = ref.configMapRef.key ?? DEFAULT_REGO_KEY;
      if (!loadConfigMap) throw new RegoError(`cannot load ConfigMap ${namespace}/${name}: no ConfigMap loader configured`);
      try {
        bytes = await loadConfigMap(namespace, name, key);
      } catch (e) {
        throw new RegoError(`cannot load key ${JSON.stringify(key)} of ConfigMap ${namespace}/${name}: ${(e as Error).message ?? String(e)}`);
      }
    } else {
      throw new RegoError('set one of wasmBase64 or configMapRef');
    }
    if (bytes.byteLength < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
      throw new RegoError('not a WebAssembly module (expected policy.wasm from `opa build -t wasm`, not the bundle.tar.gz)');
    }
    const mib = ref.memoryLimitMiB ?? DEFAULT_REGO_MEMORY_MIB;
    const timeoutMs = ref.timeoutMilliseconds ?? DEFAULT_REGO_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_REGO_TIMEOUT_MS) {
      throw new RegoError(`timeoutMilliseconds must be an integer from 1 to ${MAX_REGO_TIMEOUT_MS}`);
    }
    let mod: WasmModule;
    try {
      mod = new WA.Module(bytes);
    } catch (e) {
      throw new RegoError(`invalid WebAssembly: ${(e as Error).message}`);
    }
    const exported = new Set(WA.Module.exports(mod).map((e) => e.name));
    if (!exported.has('opa_wasm_abi_version') || !exported.has('opa_eval_ctx_new')) {
      throw new RegoError('WebAssembly module is not an OPA policy (build it with `opa build -t wasm`)');
    }
    const ev = new RegoEvaluator(mod, Math.max(1, Math.floor((mib * 1024 * 1024) / PAGE)), mib, ref.entrypoint, timeoutMs);
    // Wait for a fresh worker without blocking the event loop; the load itself is quick.
    const starting = worker();
    pendingLoads++;
    try {
      await starting.ready;
    } catch (e) {
      // Terminated meanwhile (a timeout elsewhere): its replacement is used below. Crashed: report it.
      if (!starting.killed) { void starting.kill(); throw new RegoError(`cannot start the Rego worker: ${errText(e)}`); }
    } finally {
      pendingLoads--;
    }
    const eps = ev.loadInto(worker());
    if (!eps.includes(ref.entrypoint)) {
      void ev.release();
      throw new RegoError(`entrypoint ${JSON.stringify(ref.entrypoint)} not in the compiled policy (has: ${eps.join(', ') || 'none'})`);
    }
    return ev;
  }

  /**
   * Evaluates with the request as input, within the time budget. Throws RegoError when evaluation traps or
   * runs out of time.
   */
  evaluate(input: RequestAttributes): RegoOutcome {
    let json: string;
    try {
      json = JSON.stringify(input);
    } catch (e) {
      throw new RegoError(`Rego evaluation failed: the input is not JSON (${errText(e)})`);
    }
    for (let attempt = 0; ; attempt++) {
      const w = worker();
      if (!w.loaded.has(this.id)) this.loadInto(w);
      const reply = w.call({ op: 'eval', id: this.id, input: json }, this.timeoutMs);
      if (typeof reply === 'string') {
        // The worker was terminated: start its replacement now, so it boots while the main thread moves on.
        worker();
        if (reply === 'starved') throw new RegoError(`Rego evaluation did not finish within ${wallClockCap(this.timeoutMs)} ms (the Rego worker is short of CPU; time budget ${this.timeoutMs} ms) and was stopped`);
        if (reply === 'unresponsive') throw new RegoError(`Rego evaluation failed: the Rego worker did not start the evaluation within ${PICKUP_GRACE_MS} ms and was restarted`);
        throw new RegoError(`Rego evaluation exceeded its time budget of ${this.timeoutMs} ms (timeoutMilliseconds) and was stopped`);
      }
      if (reply.ok) return interpret(reply.result);
      if (reply.missing && attempt === 0) { w.loaded.delete(this.id); continue; }
      throw new RegoError(`Rego evaluation failed: ${reply.error}`);
    }
  }

  /**
   * Frees the instance in the worker (which is terminated once it holds no policy). The evaluator stays
   * usable: a later evaluate() loads it again.
   */
  release(): Promise<void> {
    return drop(this.id).then(() => undefined);
  }
}

function errText(e: unknown): string {
  if (e instanceof RangeError && /memory/i.test(e.message)) return `out of memory (${e.message})`;
  if (e instanceof Error) return e.message;
  return String(e);
}

const msgText = (m: unknown): string => (typeof m === 'string' ? m : JSON.stringify(m));

/** Result semantics: `true`, or a non-empty set/array/object of messages, is a violation. */
export function interpret(resultSet: unknown): RegoOutcome {
  if (!Array.isArray(resultSet) || resultSet.length === 0) return { violation: false, messages: [] };
  const messages: string[] = [];
  let violation = false;
  for (const r of resultSet) {
    const v = (r as { result?: unknown } | null)?.result;
    if (v === true) violation = true;
    else if (Array.isArray(v) && v.length > 0) { violation = true; messages.push(...v.map(msgText)); }
    else if (v && typeof v === 'object' && Object.keys(v).length > 0) { violation = true; messages.push(...Object.keys(v)); }
    else if (typeof v === 'string' && v.length > 0) { violation = true; messages.push(v); }
  }
  return { violation, messages: messages.slice(0, MAX_MESSAGES) };
}

export function regoExplanations(outcome: RegoOutcome, path: string): Explanation[] {
  if (outcome.messages.length === 0) return [{ detector: 'rego', path, message: 'Rego policy reported a violation' }];
  return outcome.messages.map((m) => ({ detector: 'rego', path, message: m }));
}
