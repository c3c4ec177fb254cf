// The Rego escape hatch: a policy compiled to wasm (opa build -t wasm), evaluated with
// @open-policy-agent/opa-wasm inside a capped WebAssembly.Memory. Loading is async (upsert); evaluation is
// synchronous (decide). A trap (out of memory, stack overflow) re-instantiates the module for the next call
// and is reported to the caller, which fails closed.
import * as opaWasm from '@open-policy-agent/opa-wasm';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import type { RegoRef } from '../api/types.js';
import type { Explanation, RequestAttributes } from './types.js';

export const DEFAULT_REGO_MEMORY_MIB = 32;
export const DEFAULT_REGO_KEY = 'policy.wasm';
const PAGE = 64 * 1024;

// The package's ESM entry only re-exports loadPolicy by name; loadPolicySync lives on the default export.
const loadPolicySync = ((opaWasm as unknown as { default?: typeof opaWasm }).default ?? opaWasm).loadPolicySync;

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

export class RegoEvaluator {
  private instance: LoadedPolicy;
  private readonly module: WasmModule;
  private readonly maxPages: number;
  readonly entrypoint: string;
  private constructor(module: WasmModule, maxPages: number, entrypoint: string) {
    this.module = module;
    this.maxPages = maxPages;
    this.entrypoint = entrypoint;
    this.instance = this.instantiate();
  }

  private instantiate(): LoadedPolicy {
    return loadPolicySync(this.module as never, { initial: Math.min(5, this.maxPages), maximum: this.maxPages });
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
    let ev: RegoEvaluator;
    try {
      ev = new RegoEvaluator(mod, Math.max(1, Math.floor((mib * 1024 * 1024) / PAGE)), ref.entrypoint);
    } catch (e) {
      throw new RegoError(`cannot instantiate policy (memory limit ${mib} MiB): ${errText(e)}`);
    }
    const eps = ev.instance.entrypoints as Record<string, number> | undefined;
    if (!eps || !Object.hasOwn(eps, ref.entrypoint)) {
      throw new RegoError(`entrypoint ${JSON.stringify(ref.entrypoint)} not in the compiled policy (has: ${Object.keys(eps ?? {}).join(', ') || 'none'})`);
    }
    return ev;
  }

  /** Evaluates with the request as input. Throws RegoError when evaluation traps. */
  evaluate(input: RequestAttributes): RegoOutcome {
    let rs: unknown;
    try {
      rs = this.instance.evaluate(input, this.entrypoint);
    } catch (e) {
      try { this.instance = this.instantiate(); } catch { /* next evaluate fails again and is reported */ }
      throw new RegoError(`Rego evaluation failed: ${errText(e)}`);
    }
    return interpret(rs);
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
