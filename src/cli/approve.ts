// `kubectl approve`: list, inspect, approve and deny Airlock Approvals with the current kubeconfig context.
// Your identity comes from the API server (SelfSubjectReview); the webhook checks it again on every write.
import yaml from 'js-yaml';
import type { Approval, ApprovalDecision } from '../api/types.js';
import { APPROVALS_PATH, approvalPath } from '../approvals/paths.js';
import { humanDuration, parseDuration } from '../approvals/duration.js';
import { distinctApprovers, isApprover, isExpired, isRequester, phaseFromDecisions, phaseOf } from '../approvals/rules.js';
import { isConflict, isNotFound, KubeApiError, KubeClient } from '../k8s/client.js';

const USAGE = `Approve or deny requests that Airlock holds for human sign-off.

Usage:
  kubectl approve list [-A|--all] [-o wide|yaml|json]   pending Approvals (-A: every phase)
  kubectl approve show NAME [-o yaml|json]              the full request, diff, policy and decisions
  kubectl approve NAME [--comment TEXT]                 approve (also: kubectl approve approve NAME)
  kubectl approve deny NAME --reason TEXT               deny
  kubectl approve watch [-A] [--timeout 10m]            stream changes
  kubectl approve whoami                                the identity the API server sees

Flags:
  --kubeconfig PATH   kubeconfig file (default: KUBECONFIG or ~/.kube/config)
  --context NAME      kubeconfig context
  --version           print the version

Exit codes: 0 done, 1 failed (refused, not found, API error), 2 usage error.
`;

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['kubeconfig', 'context', 'o', 'output', 'comment', 'reason', 'm', 'timeout']);
const BOOL_FLAGS = new Set(['A', 'all', 'all-namespaces', 'h', 'help', 'no-headers', 'version']);

export function parseArgs(argv: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { positional.push(...argv.slice(i + 1)); break; }
    if (!a.startsWith('-') || a === '-') { positional.push(a); continue; }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const key = eq >= 0 ? body.slice(0, eq) : body;
    if (BOOL_FLAGS.has(key) && eq < 0) { flags.set(key, true); continue; }
    if (!VALUE_FLAGS.has(key) && !BOOL_FLAGS.has(key)) throw new UsageError(`unknown flag: ${a}`);
    if (eq >= 0) flags.set(key, body.slice(eq + 1));
    else {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`flag needs an argument: ${a}`);
      flags.set(key, v);
    }
  }
  return { positional, flags };
}

class UsageError extends Error {}

const flag = (p: Parsed, ...names: string[]): string | undefined => {
  for (const n of names) { const v = p.flags.get(n); if (typeof v === 'string') return v; }
  return undefined;
};
const has = (p: Parsed, ...names: string[]): boolean => names.some((n) => p.flags.has(n));

function age(ts: string | undefined, now: number): string {
  if (!ts) return '<unknown>';
  return humanDuration(now - Date.parse(ts));
}

function expires(a: Approval, now: number): string {
  const t = Date.parse(a.spec.expiresAt);
  if (!Number.isFinite(t)) return '<invalid>';
  return t <= now ? `expired ${humanDuration(now - t)} ago` : `in ${humanDuration(t - now)}`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

export function listRows(items: Approval[], now: number, opts: { wide?: boolean; phase?: boolean }): string[][] {
  const head = ['NAME', ...(opts.phase ? ['PHASE'] : []), 'AGE', 'REQUESTER', 'VERB', 'RESOURCE', 'NAMESPACE/NAME', 'POLICY', 'EXPIRES'];
  if (opts.wide) head.push('APPROVALS', 'SUMMARY');
  const rows = [head];
  for (const a of items) {
    const r = a.spec.request;
    const row = [
      a.metadata.name ?? '',
      ...(opts.phase ? [phaseOf(a)] : []),
      age(a.metadata.creationTimestamp, now),
      r.user,
      r.verb,
      r.subresource ? `${r.resource}/${r.subresource}` : r.resource,
      [r.namespace, r.name].filter(Boolean).join('/') || '-',
      `${a.spec.policy.name}/${a.spec.policy.rule}`,
      expires(a, now),
    ];
    if (opts.wide) row.push(`${distinctApprovers(a.status?.decisions ?? []).length}/${a.spec.required}`, r.summary);
    rows.push(row);
  }
  return rows;
}

/** A word as a POSIX shell would need it quoted (plain when it is safe as is). */
function shellQuote(w: string): string {
  // Control characters (terminal escapes could hide part of the command) are shown escaped.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(w)) return `$${JSON.stringify(w).replace(/^"|"$/g, "'")}`;
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

export function describe(a: Approval, now: number): string {
  const r = a.spec.request;
  const lines: string[] = [];
  const kv = (k: string, v: string | number | undefined): void => { if (v !== undefined && v !== '') lines.push(`${(k + ':').padEnd(14)}${v}`); };
  kv('Name', a.metadata.name);
  kv('Phase', phaseOf(a));
  kv('Summary', r.summary);
  kv('Requester', `${r.user}${r.uid ? ` (uid ${r.uid})` : ''}${r.groups?.length ? ` groups=${r.groups.join(',')}` : ''}`);
  kv('Operation', `${r.verb}${r.operation ? ` (${r.operation})` : ''} via ${r.via}`);
  kv('Resource', `${r.apiGroup ? r.apiGroup + '/' : ''}${r.apiVersion} ${r.resource}${r.subresource ? '/' + r.subresource : ''}`);
  kv('Object', [r.namespace, r.name].filter(Boolean).join('/') || '-');
  const options = Object.entries(r.options ?? {});
  if (options.length) {
    lines.push('Options:');
    for (const [k, v] of options) lines.push(`  ${k}=${v}`);
  }
  if (r.collection) {
    const more = r.collection.count - r.collection.names.length;
    kv('Deletes', `${r.collection.count} object${r.collection.count === 1 ? '' : 's'}`);
    for (const n of r.collection.names) lines.push(`  ${n}`);
    if (more > 0) lines.push(`  ... and ${more} more`);
  }
  if (r.exec) {
    // Shell-quoted so the approver reads the argv as it is: one element per word, nothing joined.
    kv('Command', r.exec.command.length ? r.exec.command.map(shellQuote).join(' ') : '(attach)');
    if (r.exec.interactive) kv('Interactive', 'yes (stdin or a terminal)');
    if (r.exec.pod) kv('Pod', `${r.exec.pod}${r.exec.podUID ? ` (uid ${r.exec.podUID})` : ''}`);
    if (r.exec.container) kv('Container', `${r.exec.container}${r.exec.image ? ` image ${r.exec.image}` : ''}`);
    if (r.exec.serviceAccount) kv('Runs as', `ServiceAccount ${r.exec.serviceAccount}`);
  }
  kv('Policy', `${a.spec.policy.name} rule ${a.spec.policy.rule}`);
  kv('Reason', a.spec.policy.message);
  kv('Approvers', [...(a.spec.approvers.users ?? []).map((u) => `user:${u}`), ...(a.spec.approvers.groups ?? []).map((g) => `group:${g}`)].join(', ') || '(none)');
  kv('Required', `${distinctApprovers(a.status?.decisions ?? []).length}/${a.spec.required} approvals`);
  kv('Uses', `${a.status?.usesConsumed ?? 0}/${a.spec.uses} consumed`);
  kv('Expires', `${a.spec.expiresAt} (${expires(a, now)})`);
  kv('Created', `${a.metadata.creationTimestamp ?? '<unknown>'} (${age(a.metadata.creationTimestamp, now)} ago)`);
  kv('Fingerprint', r.fingerprint);
  lines.push('Decisions:');
  const ds = a.status?.decisions ?? [];
  if (!ds.length) lines.push('  <none>');
  for (const d of ds) lines.push(`  ${d.at}  ${d.decision.padEnd(7)}  ${d.by}${d.comment ? `  "${d.comment}"` : ''}`);
  if (a.status?.message) kv('Message', a.status.message);
  lines.push('Diff:');
  lines.push(r.diff ? r.diff.replace(/^/gm, '  ').trimEnd() : '  <none>');
  return lines.join('\n') + '\n';
}

async function whoami(client: KubeClient): Promise<{ username: string; uid?: string; groups?: string[] }> {
  const res = await client.create<{ status?: { userInfo?: { username?: string; uid?: string; groups?: string[] } } }>(
    '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  );
  const u = res.status?.userInfo;
  if (!u?.username) throw new Error('the API server did not say who you are (SelfSubjectReview returned no username)');
  return { username: u.username, ...(u.uid ? { uid: u.uid } : {}), groups: u.groups ?? [] };
}

function print(obj: unknown, format: string): void {
  process.stdout.write(format === 'json' ? JSON.stringify(obj, null, 4) + '\n' : yaml.dump(obj, { noRefs: true, lineWidth: -1 }));
}

async function decide(client: KubeClient, name: string, decision: 'approve' | 'deny', comment: string | undefined): Promise<number> {
  const me = await whoami(client);
  for (let attempt = 0; attempt < 8; attempt++) {
    const a = await client.get<Approval>(approvalPath(name));
    const now = Date.now();
    const phase = phaseOf(a);
    const problems: string[] = [];
    if (phase !== 'Pending' && !(phase === 'Approved' && decision === 'deny')) problems.push(`it is ${phase}`);
    if (isExpired(a, now)) problems.push(`it expired at ${a.spec.expiresAt}`);
    if (isRequester(a, me)) problems.push(`you (${me.username}) made the request; someone else must decide (four-eyes)`);
    if (!isApprover(a, me)) problems.push(`you (${me.username}) are not one of its approvers`);
    if ((a.status?.decisions ?? []).some((d) => d.by === me.username)) problems.push(`you (${me.username}) already decided on it`);
    if (problems.length) {
      process.stderr.write(`error: cannot ${decision} approval.airlock.dev/${name}: ${problems.join('; ')}\n`);
      return 1;
    }
    const d: ApprovalDecision = { decision, by: me.username, at: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'), ...(comment ? { comment } : {}) };
    const decisions = [...(a.status?.decisions ?? []), d];
    const next = phaseFromDecisions(decisions, a.spec.required);
    try {
      await client.replace(`${approvalPath(name)}/status`, { ...a, status: { ...a.status, decisions, phase: next } });
    } catch (err) {
      if (isConflict(err)) continue; // someone else decided meanwhile: re-read and re-check
      throw err;
    }
    const count = distinctApprovers(decisions).length;
    const verb = decision === 'approve' ? 'approved' : 'denied';
    const tail = next === 'Pending' ? ` (${count}/${a.spec.required} approvals; waiting for more)` : ` (phase ${next})`;
    process.stdout.write(`approval.airlock.dev/${name} ${verb}${tail}\n`);
    return 0;
  }
  process.stderr.write(`error: approval.airlock.dev/${name} kept changing; try again\n`);
  return 1;
}

async function list(client: KubeClient, p: Parsed): Promise<number> {
  const all = has(p, 'A', 'all', 'all-namespaces');
  const out = flag(p, 'o', 'output') ?? '';
  if (out && !['wide', 'yaml', 'json', 'name'].includes(out)) throw new UsageError(`unsupported output format "${out}" (wide, yaml, json, name)`);
  const res = await client.get<{ items: Approval[] }>(APPROVALS_PATH);
  const now = Date.now();
  const items = res.items
    .filter((a) => all || (phaseOf(a) === 'Pending' && !isExpired(a, now)))
    .sort((x, y) => String(x.metadata.creationTimestamp).localeCompare(String(y.metadata.creationTimestamp)));
  if (out === 'yaml' || out === 'json') { print({ apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } }, out); return 0; }
  if (out === 'name') { for (const a of items) process.stdout.write(`approval.airlock.dev/${a.metadata.name}\n`); return 0; }
  if (!items.length) { process.stderr.write(all ? 'No Approvals found.\n' : 'No pending Approvals.\n'); return 0; }
  const rows = listRows(items, now, { wide: out === 'wide', phase: all });
  process.stdout.write(table(has(p, 'no-headers') ? rows.slice(1) : rows));
  return 0;
}

async function show(client: KubeClient, p: Parsed): Promise<number> {
  const name = p.positional[1];
  if (!name) throw new UsageError('show needs an Approval name');
  const a = await client.get<Approval>(approvalPath(name));
  const out = flag(p, 'o', 'output');
  if (out === 'yaml' || out === 'json') print(a, out);
  else if (out) throw new UsageError(`unsupported output format "${out}" (yaml, json)`);
  else process.stdout.write(describe(a, Date.now()));
  return 0;
}

async function watch(client: KubeClient, p: Parsed): Promise<number> {
  const all = has(p, 'A', 'all', 'all-namespaces');
  const timeout = flag(p, 'timeout');
  const res = await client.get<{ metadata: { resourceVersion: string }; items: Approval[] }>(APPROVALS_PATH);
  const now = Date.now();
  const visible = (a: Approval): boolean => all || phaseOf(a) === 'Pending';
  const initial = res.items.filter(visible);
  const head = listRows([], now, { phase: true })[0]!;
  const widths = [40, 10, 6, 14, 8, 14, 30, 24, 14];
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 10))).join(' ').trimEnd() + '\n';
  process.stdout.write(line(['EVENT', ...head]));
  for (const a of initial) process.stdout.write(line(['EXISTING', ...listRows([a], now, { phase: true })[1]!]));
  let seenVisible = new Set(initial.map((a) => a.metadata.name));
  return new Promise<number>((resolve) => {
    const handle = client.watch(APPROVALS_PATH, { resourceVersion: res.metadata.resourceVersion }, (ev) => {
      if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
      const a = ev.object as unknown as Approval;
      const wasVisible = seenVisible.has(a.metadata.name);
      if (!visible(a) && !wasVisible) return;
      if (visible(a)) seenVisible.add(a.metadata.name); else seenVisible = new Set([...seenVisible].filter((n) => n !== a.metadata.name));
      process.stdout.write(line([ev.type, ...listRows([a], Date.now(), { phase: true })[1]!]));
    });
    const finish = (code: number): void => { clearTimeout(timer); handle.stop(); resolve(code); };
    const timer = timeout ? setTimeout(() => finish(0), parseDuration(timeout)) : undefined;
    process.once('SIGINT', () => finish(0));
    handle.done.then(() => finish(0), (err: unknown) => { process.stderr.write(`error: watch ended: ${(err as Error).message}\n`); finish(1); });
  });
}

function explainError(err: unknown, name?: string): string {
  if (err instanceof KubeApiError) {
    if (isNotFound(err) && name) return `approvals.airlock.dev "${name}" not found`;
    const msg = (err.body as { message?: string } | undefined)?.message;
    return msg ?? err.message;
  }
  return (err as Error)?.message ?? String(err);
}

export async function main(argv: string[]): Promise<number> {
  let p: Parsed;
  try {
    p = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const cmd = p.positional[0];
  if (has(p, 'version') || cmd === 'version') {
    process.stdout.write(`kubectl-approve ${(await import('./version.js')).airlockVersion()}\n`);
    return 0;
  }
  if (has(p, 'h', 'help') || !cmd || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd || has(p, 'h', 'help') ? 0 : 2;
  }
  let target: string | undefined;
  try {
    const client = await KubeClient.load(flag(p, 'kubeconfig'), flag(p, 'context'));
    switch (cmd) {
      case 'list':
      case 'ls':
        return await list(client, p);
      case 'show':
      case 'describe':
        target = p.positional[1];
        return await show(client, p);
      case 'watch':
        return await watch(client, p);
      case 'whoami': {
        const me = await whoami(client);
        process.stdout.write(`${me.username}${me.groups?.length ? ` (groups: ${me.groups.join(', ')})` : ''}\n`);
        return 0;
      }
      case 'deny': {
        target = p.positional[1];
        const reason = flag(p, 'reason', 'comment', 'm');
        if (!target) throw new UsageError('deny needs an Approval name');
        if (!reason) throw new UsageError('deny needs --reason TEXT (it is shown to the requester)');
        return await decide(client, target, 'deny', reason);
      }
      default: {
        target = cmd === 'approve' ? p.positional[1] : cmd;
        if (!target) throw new UsageError('approve needs an Approval name');
        if (p.positional.length > (cmd === 'approve' ? 2 : 1)) throw new UsageError(`unexpected arguments: ${p.positional.slice(cmd === 'approve' ? 2 : 1).join(' ')}`);
        return await decide(client, target, 'approve', flag(p, 'comment', 'm'));
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n\n${USAGE}`);
      return 1;
    }
    process.stderr.write(`error: ${explainError(err, target)}\n`);
    return 1;
  }
}
