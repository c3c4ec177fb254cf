// Offline policy testing (kubectl airlock test): load policies and requests from YAML files, decide, and run
// directories of test cases with expected decisions. File I/O only; no cluster access.
import { execAttributesOf } from './exec-facts.js';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import yaml from 'js-yaml';
import type { AgentPolicy } from '../api/types.js';
import { Engine } from './engine.js';
import { requestFromManifest } from './manifest.js';
import { permissionKey } from './service-account-power.js';
import type { CompileResult, Decision, RequestAttributes, UserInfo, Via } from './types.js';

type Rec = Record<string, unknown>;
const isRec = (x: unknown): x is Rec => x !== null && typeof x === 'object' && !Array.isArray(x);

export const TEST_FILE_NAMES = ['airlock-test.yaml', 'airlock-test.yml'];

/** YAML documents of a file; `expandLists` splits `kind: List` into its items (for policy files). */
export function loadDocs(file: string, expandLists = false): Rec[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new Error(`cannot read ${file}: ${(e as Error).message}`); }
  let docs: unknown[];
  try { docs = yaml.loadAll(text, undefined, { schema: yaml.CORE_SCHEMA }); } catch (e) { throw new Error(`${file}: invalid YAML: ${(e as Error).message}`); }
  const out: Rec[] = [];
  for (const d of docs) {
    if (d === null || d === undefined) continue;
    if (!isRec(d)) throw new Error(`${file}: every YAML document must be a mapping`);
    if (expandLists && d.kind === 'List' && Array.isArray(d.items)) out.push(...d.items.filter(isRec));
    else out.push(d);
  }
  return out;
}

/** Expands files and directories (non-recursive, *.yaml|*.yml) into a sorted file list. */
export function expandPaths(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try { st = statSync(p); } catch { throw new Error(`${p}: no such file or directory`); }
    if (st.isDirectory()) {
      out.push(...readdirSync(p).filter((f) => /\.ya?ml$/.test(f) && !TEST_FILE_NAMES.includes(f)).sort().map((f) => join(p, f)));
    } else out.push(p);
  }
  return out;
}

export interface LoadedPolicies { engine: Engine; results: { name: string; file: string; result: CompileResult }[] }

/** Loads AgentPolicies (other kinds are skipped; ConfigMaps serve Rego configMapRefs) into a fresh engine. */
export async function loadPolicies(paths: string[], now?: () => Date): Promise<LoadedPolicies> {
  const files = expandPaths(paths);
  const policies: { p: Rec; file: string }[] = [];
  const configMaps = new Map<string, Rec>();
  for (const f of files) {
    for (const d of loadDocs(f, true)) {
      if (d.kind === 'AgentPolicy') policies.push({ p: d, file: f });
      else if (d.kind === 'ConfigMap' && isRec(d.metadata)) configMaps.set(`${String(d.metadata.namespace ?? 'default')}/${String(d.metadata.name)}`, d);
    }
  }
  const loadConfigMap = async (ns: string, name: string, key: string): Promise<Uint8Array> => {
    const cm = configMaps.get(`${ns}/${name}`);
    if (!cm) throw new Error(`ConfigMap ${ns}/${name} not found among the policy files`);
    const bin = isRec(cm.binaryData) ? cm.binaryData[key] : undefined;
    if (typeof bin === 'string') return Buffer.from(bin, 'base64');
    const txt = isRec(cm.data) ? cm.data[key] : undefined;
    if (typeof txt === 'string') return Buffer.from(txt, 'utf8');
    throw new Error(`key ${key} not found`);
  };
  const engine = new Engine({ loadConfigMap, metrics: false, ...(now ? { now } : {}) });
  const results: LoadedPolicies['results'] = [];
  const seen = new Map<string, string>();
  for (const { p, file } of policies) {
    const name = isRec(p.metadata) && typeof p.metadata.name === 'string' ? p.metadata.name : '(unnamed)';
    if (seen.has(name)) throw new Error(`${file}: AgentPolicy "${name}" is also defined in ${seen.get(name)}`);
    seen.set(name, file);
    results.push({ name, file, result: await engine.upsert(p as unknown as AgentPolicy) });
  }
  return { engine, results };
}

export interface RequestDefaults {
  user?: string;
  groups?: string[];
  verb?: string;
  namespace?: string;
  subresource?: string;
  via?: Via;
  namespaceLabels?: Record<string, string>;
  oldObject?: Rec;
  /** Overrides for manifests whose kind does not name the resource (e.g. a Scale sent to deployments/scale). */
  resource?: string;
  apiGroup?: string;
  /**
   * What ServiceAccounts may do, as enrichServiceAccounts would report it, keyed `<namespace>/<name>`:
   * `{dangerous: [permission keys]}` (`checked` defaults to the identity's whole bound) or `{error}`.
   */
  serviceAccounts?: Record<string, Partial<{ dangerous: string[]; checked: string[]; error: string }>>;
}

const isRequestAttributes = (d: Rec): boolean => typeof d.verb === 'string' && !('kind' in d && 'apiVersion' in d && 'metadata' in d);

/** A YAML document as RequestAttributes: either RequestAttributes itself, or a manifest plus defaults. */
export function toRequest(doc: Rec, def: RequestDefaults): RequestAttributes {
  const user = (u: unknown): UserInfo => {
    if (isRec(u) && typeof u.username === 'string') {
      return { username: u.username, groups: Array.isArray(u.groups) ? u.groups.map(String) : [], ...(isRec(u.extra) ? { extra: u.extra as Record<string, string[]> } : {}) };
    }
    if (!def.user) throw new Error('no user: set user in the request, or pass --user');
    return { username: def.user, groups: def.groups ?? [] };
  };
  if (isRequestAttributes(doc)) {
    const r = doc as unknown as RequestAttributes;
    const apiGroup = r.apiGroup ?? '';
    const resource = r.resource ?? '';
    // An exec or attach is judged on its command as the proxy sees it: from options, unless given whole.
    const exec = r.exec ?? execAttributesOf({ apiGroup, resource, ...(r.subresource ? { subresource: r.subresource } : {}) }, r.options);
    return {
      ...r, user: user(doc.user), isResourceRequest: r.isResourceRequest !== false, apiGroup,
      apiVersion: r.apiVersion ?? 'v1', resource, via: r.via ?? def.via ?? 'test',
      ...(exec ? { exec } : {}),
      ...(r.namespaceLabels === undefined && def.namespaceLabels ? { namespaceLabels: def.namespaceLabels } : {}),
      ...(r.serviceAccounts === undefined && def.serviceAccounts ? { serviceAccounts: def.serviceAccounts as RequestAttributes['serviceAccounts'] } : {}),
    };
  }
  const req = requestFromManifest(doc, {
    user: user(undefined), ...(def.verb ? { verb: def.verb } : {}), ...(def.namespace ? { namespace: def.namespace } : {}),
    ...(def.subresource ? { subresource: def.subresource } : {}), ...(def.via ? { via: def.via } : {}),
    ...(def.namespaceLabels ? { namespaceLabels: def.namespaceLabels } : {}), ...(def.oldObject ? { oldObject: def.oldObject } : {}),
  });
  if (def.resource !== undefined) req.resource = def.resource;
  if (def.apiGroup !== undefined) req.apiGroup = def.apiGroup;
  if (def.serviceAccounts) req.serviceAccounts = def.serviceAccounts as RequestAttributes['serviceAccounts'];
  return req;
}

/** Plays the enricher for test requests: an entry without `checked` was checked against the identity's whole bound. */
function completeServiceAccounts(req: RequestAttributes, engine: Engine): void {
  if (!req.serviceAccounts) return;
  const checked = engine.serviceAccountBound(req.user).map(permissionKey);
  const out: NonNullable<RequestAttributes['serviceAccounts']> = {};
  for (const [key, raw] of Object.entries(req.serviceAccounts)) {
    const v = (isRec(raw) ? raw : {}) as Partial<{ dangerous: unknown; checked: unknown; error: unknown }>;
    out[key] = typeof v.error === 'string' ? { error: v.error }
      : { dangerous: Array.isArray(v.dangerous) ? v.dangerous.map(String) : [], checked: Array.isArray(v.checked) ? v.checked.map(String) : checked };
  }
  req.serviceAccounts = out;
}

// ---------- test suites ----------

export interface Expectation { action: string; policy?: string; rule?: string; reasonContains?: string; detectors?: string[]; audits?: string[]; agent?: boolean; required?: number }

export interface CaseResult {
  suite: string;
  name: string;
  pass: boolean;
  expected: Expectation;
  got?: Decision;
  problems: string[];
}

export function findSuites(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    const st = statSync(p);
    if (st.isDirectory()) { for (const f of readdirSync(p).sort()) { if (!f.startsWith('.') && f !== 'node_modules') walk(join(p, f)); } }
    else if (TEST_FILE_NAMES.some((n) => p.endsWith(n))) out.push(p);
  };
  for (const p of paths) {
    try { walk(p); } catch { throw new Error(`${p}: no such file or directory`); }
  }
  return out;
}

function check(exp: Expectation, d: Decision): string[] {
  const problems: string[] = [];
  if (d.action !== exp.action) problems.push(`action: expected ${exp.action}, got ${d.action}`);
  if (exp.policy !== undefined && d.matched?.policy !== exp.policy) problems.push(`policy: expected ${exp.policy}, got ${d.matched?.policy ?? '(none)'}`);
  if (exp.rule !== undefined && d.matched?.rule !== exp.rule) problems.push(`rule: expected ${exp.rule}, got ${d.matched?.rule ?? '(none)'}`);
  const reason = 'reason' in d ? d.reason : '';
  if (exp.reasonContains !== undefined && !reason.includes(exp.reasonContains)) problems.push(`reason: expected to contain ${JSON.stringify(exp.reasonContains)}, got ${JSON.stringify(reason)}`);
  for (const det of exp.detectors ?? []) {
    if (!d.explanations.some((e) => e.detector === det)) problems.push(`detectors: expected ${det} to fire, got [${[...new Set(d.explanations.map((e) => e.detector))].join(', ')}]`);
  }
  for (const rule of exp.audits ?? []) {
    if (!d.audits.some((a) => a.rule === rule)) problems.push(`audits: expected rule ${rule} to audit, got [${d.audits.map((a) => a.rule).join(', ')}]`);
  }
  if (exp.agent !== undefined && d.agent !== exp.agent) problems.push(`agent: expected ${exp.agent}, got ${d.agent}`);
  if (exp.required !== undefined && (d.action !== 'hold' || d.hold.required !== exp.required)) problems.push(`required: expected a hold needing ${exp.required} approvers, got ${d.action === 'hold' ? d.hold.required : d.action}`);
  return problems;
}

/** Runs one airlock-test.yaml: loads its policies, decides every case, compares with expectations. */
export async function runSuite(file: string): Promise<{ results: CaseResult[]; policyErrors: string[] }> {
  const docs = loadDocs(file);
  const suite = docs[0];
  if (!suite || !Array.isArray(suite.policies) || !Array.isArray(suite.cases)) throw new Error(`${file}: a test file needs "policies" and "cases" lists`);
  const base = dirname(resolve(file));
  const suiteName = isRec(suite.metadata) && typeof suite.metadata.name === 'string' ? suite.metadata.name : file;
  const { engine, results: loaded } = await loadPolicies(suite.policies.map((p) => resolve(base, String(p))));
  const policyErrors = loaded.filter((l) => !l.result.ok).flatMap((l) => l.result.errors.map((e) => `${l.file}: AgentPolicy ${l.name}: ${e}`));
  const defaults = (isRec(suite.defaults) ? suite.defaults : {}) as RequestDefaults;
  const results: CaseResult[] = [];
  suite.cases.forEach((c: unknown, i: number) => {
    const cs = isRec(c) ? c : {};
    const name = typeof cs.name === 'string' ? cs.name : `case ${i + 1}`;
    const expected = (isRec(cs.expect) ? cs.expect : {}) as unknown as Expectation;
    const fail = (msg: string): void => { results.push({ suite: suiteName, name, pass: false, expected, problems: [msg] }); };
    if (typeof expected.action !== 'string') return fail('expect.action is required');
    let docsForCase: Rec[];
    try {
      if (typeof cs.request === 'string') docsForCase = loadDocs(resolve(base, cs.request));
      else if (isRec(cs.request)) docsForCase = [cs.request];
      else return fail('request (a file name or an inline object) is required');
    } catch (e) { return fail((e as Error).message); }
    const def: RequestDefaults = { ...defaults };
    for (const k of ['user', 'groups', 'verb', 'namespace', 'subresource', 'via', 'namespaceLabels', 'oldObject', 'resource', 'apiGroup'] as const) {
      if (cs[k] !== undefined) (def as Rec)[k] = cs[k];
    }
    if (isRec(cs.serviceAccounts)) def.serviceAccounts = { ...defaults.serviceAccounts, ...(cs.serviceAccounts as RequestDefaults['serviceAccounts']) };
    docsForCase.forEach((doc, j) => {
      const label = docsForCase.length > 1 ? `${name} [${j + 1}/${docsForCase.length}${typeof doc.kind === 'string' ? ` ${doc.kind}` : ''}]` : name;
      let req: RequestAttributes;
      try { req = toRequest(doc, def); } catch (e) { results.push({ suite: suiteName, name: label, pass: false, expected, problems: [(e as Error).message] }); return; }
      completeServiceAccounts(req, engine);
      const got = engine.decide(req);
      const problems = check(expected, got);
      results.push({ suite: suiteName, name: label, pass: problems.length === 0, expected, got, problems });
    });
  });
  return { results, policyErrors };
}

export { resolve as resolvePath };
