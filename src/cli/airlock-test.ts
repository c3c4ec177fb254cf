// `kubectl airlock test`: offline policy testing.
//   kubectl airlock test -p policy.yaml [-p dir/] -r request.yaml [--user u --groups g1,g2 --verb create] [-o json|yaml]
//   kubectl airlock test examples/tests/        (runs every airlock-test.yaml below the directories given)
import yaml from 'js-yaml';
import { findSuites, loadDocs, loadPolicies, runSuite, toRequest, type CaseResult, type RequestDefaults } from '../policy/offline.js';
import type { Decision, Via } from '../policy/types.js';

const USAGE = `Usage:
  kubectl airlock test -p POLICY... -r REQUEST... [flags]   decide requests against policies
  kubectl airlock test DIR...                               run test suites (airlock-test.yaml files)

Flags:
  -p, --policy PATH       AgentPolicy file or directory (repeatable)
  -r, --request PATH      request file: RequestAttributes YAML or a plain manifest (repeatable; multi-document)
  -o, --output FORMAT     text (default), json or yaml
      --user NAME         user for manifest requests
      --groups G1,G2      groups for manifest requests
      --verb VERB         verb for manifest requests (default create)
  -n, --namespace NS      namespace for manifest requests (default: the manifest's, else default)
      --subresource SUB   subresource for manifest requests (e.g. scale, exec)
      --via VIA           proxy, webhook or test (default test)
  -h, --help              this help

Exit codes: 0 ok; 1 a test failed, a policy is invalid, or bad input.
`;

interface Args { policies: string[]; requests: string[]; dirs: string[]; output: string; defaults: RequestDefaults; help: boolean }

function parse(argv: string[]): Args {
  const a: Args = { policies: [], requests: [], dirs: [], output: 'text', defaults: {}, help: false };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const value = (): string => {
      if (eq > 0) return raw.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new Error(`flag ${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '-p': case '--policy': a.policies.push(value()); break;
      case '-r': case '--request': a.requests.push(value()); break;
      case '-o': case '--output': a.output = value(); break;
      case '--user': a.defaults.user = value(); break;
      case '--groups': a.defaults.groups = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--verb': a.defaults.verb = value(); break;
      case '-n': case '--namespace': a.defaults.namespace = value(); break;
      case '--subresource': a.defaults.subresource = value(); break;
      case '--via': a.defaults.via = value() as Via; break;
      case '-h': case '--help': a.help = true; break;
      default:
        if (raw.startsWith('-')) throw new Error(`unknown flag ${raw}`);
        a.dirs.push(raw);
    }
  }
  if (!['text', 'json', 'yaml'].includes(a.output)) throw new Error(`--output must be text, json or yaml, not ${a.output}`);
  if (a.defaults.via && !['proxy', 'webhook', 'test'].includes(a.defaults.via)) throw new Error('--via must be proxy, webhook or test');
  return a;
}

/** A Decision as plain data (regexes as /source/flags). */
export function decisionData(d: Decision): Record<string, unknown> {
  return JSON.parse(JSON.stringify(d, (_k, v: unknown) => (v instanceof RegExp ? v.toString() : v))) as Record<string, unknown>;
}

function textDecision(d: Decision, label?: string): string {
  const lines: string[] = [];
  if (label) lines.push(`# ${label}`);
  lines.push(`action:  ${d.action}`);
  lines.push(`policy:  ${d.matched?.policy ?? '(none)'}`);
  lines.push(`rule:    ${d.matched?.rule ?? '(none)'}`);
  if ('reason' in d) lines.push(`reason:  ${d.reason}`);
  if (!d.agent) lines.push('agent:   no (no AgentPolicy names this identity)');
  if (d.action === 'hold') {
    const h = d.hold;
    lines.push(`hold:    ${h.required} of users [${h.approvers.users.join(', ')}] groups [${h.approvers.groups.join(', ')}], ttl ${h.ttl}, mode ${h.mode}, uses ${h.uses}`);
  }
  if (d.action === 'mutate') lines.push(`patch:   ${JSON.stringify(d.patch)}`);
  if (d.explanations.length) {
    lines.push('explanations:');
    for (const e of d.explanations) lines.push(`  - [${e.detector}] ${e.path}: ${e.message}`);
  }
  if (d.audits.length) {
    lines.push('audits:');
    for (const a of d.audits) lines.push(`  - ${a.policy}/${a.rule}: ${a.message}${a.explanations.length ? ` (${a.explanations.map((e) => `${e.detector} ${e.path}`).join('; ')})` : ''}`);
  }
  return lines.join('\n') + '\n';
}

async function decideMode(a: Args): Promise<number> {
  const { engine, results } = await loadPolicies(a.policies);
  let code = 0;
  if (results.length === 0) { process.stderr.write('error: no AgentPolicy found in the policy files\n'); return 1; }
  for (const r of results) {
    for (const w of r.result.warnings) process.stderr.write(`warning: ${r.file}: AgentPolicy ${r.name}: ${w}\n`);
    for (const e of r.result.errors) { process.stderr.write(`error: ${r.file}: AgentPolicy ${r.name}: ${e}\n`); code = 1; }
  }
  const out: { file: string; index: number; decision: Decision }[] = [];
  for (const f of a.requests) {
    loadDocs(f).forEach((doc, index) => out.push({ file: f, index, decision: engine.decide(toRequest(doc, a.defaults)) }));
  }
  if (a.output === 'json') process.stdout.write(JSON.stringify(out.length === 1 ? decisionData(out[0]!.decision) : out.map((o) => decisionData(o.decision)), null, 2) + '\n');
  else if (a.output === 'yaml') process.stdout.write(out.map((o) => yaml.dump(decisionData(o.decision), { noRefs: true, lineWidth: 160 })).join('---\n'));
  else process.stdout.write(out.map((o) => textDecision(o.decision, out.length > 1 ? `${o.file} [${o.index + 1}]` : undefined)).join('\n'));
  return code;
}

function table(rows: CaseResult[]): string {
  const head = ['RESULT', 'SUITE', 'CASE', 'EXPECTED', 'GOT', 'DETAILS'];
  const body = rows.map((r) => [
    r.pass ? 'PASS' : 'FAIL', r.suite, r.name, r.expected.action ?? '?', r.got ? `${r.got.action}${r.got.matched ? ` (${r.got.matched.policy}/${r.got.matched.rule})` : ''}` : '-',
    r.problems.join('; '),
  ]);
  const widths = head.map((h, i) => Math.min(60, Math.max(h.length, ...body.map((b) => b[i]!.length))));
  const fmt = (cols: string[]): string => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [fmt(head), ...body.map(fmt)].join('\n') + '\n';
}

async function suiteMode(a: Args): Promise<number> {
  const suites = findSuites(a.dirs);
  if (suites.length === 0) { process.stderr.write(`error: no airlock-test.yaml found under ${a.dirs.join(', ')}\n`); return 1; }
  const all: CaseResult[] = [];
  let code = 0;
  for (const s of suites) {
    const { results, policyErrors } = await runSuite(s);
    for (const e of policyErrors) { process.stderr.write(`error: ${e}\n`); code = 1; }
    all.push(...results);
  }
  const failed = all.filter((r) => !r.pass).length;
  if (a.output === 'json') process.stdout.write(JSON.stringify(all.map((r) => ({ ...r, got: r.got ? decisionData(r.got) : undefined })), null, 2) + '\n');
  else if (a.output === 'yaml') process.stdout.write(yaml.dump(all.map((r) => ({ ...r, got: r.got ? decisionData(r.got) : undefined })), { noRefs: true, lineWidth: 160, skipInvalid: true }));
  else process.stdout.write(`${table(all)}\n${all.length - failed} passed, ${failed} failed, ${all.length} total\n`);
  return failed > 0 ? 1 : code;
}

export async function main(argv: string[]): Promise<number> {
  let a: Args;
  try { a = parse(argv); } catch (e) { process.stderr.write(`error: ${(e as Error).message}\n\n${USAGE}`); return 2; }
  if (a.help) { process.stdout.write(USAGE); return 0; }
  try {
    if (a.requests.length || a.policies.length) {
      if (!a.requests.length || !a.policies.length) throw new Error('give both -p (policies) and -r (requests), or test directories');
      if (a.dirs.length) throw new Error(`unexpected arguments: ${a.dirs.join(' ')}`);
      return await decideMode(a);
    }
    if (!a.dirs.length) { process.stderr.write(USAGE); return 2; }
    return await suiteMode(a);
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
}
