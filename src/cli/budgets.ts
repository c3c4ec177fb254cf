// `kubectl airlock budgets`: each agent's use of each AgentPolicy budget, read from the BudgetUsage objects
// the proxy replicas keep in Airlock's namespace (src/budgets/ledger.ts), counted as of now.
import { parseArgs } from 'node:util';
import type { BudgetUsage } from '../api/types.js';
import { humanDuration } from '../approvals/duration.js';
import { KubeApiError, KubeClient } from '../k8s/client.js';
import { parseDurationMs } from '../proxy/duration.js';
import { budgetUsagesPath, windowOf } from '../budgets/ledger.js';

const USAGE = `Usage: kubectl airlock budgets [flags]

Shows each agent's use of each AgentPolicy budget in its window, counted now.

Flags:
  -n, --namespace NS   Airlock's namespace, where the counts are kept (default airlock-system)
      --agent NAME     only this agent
      --policy NAME    only this AgentPolicy's budgets
  -o, --output FMT     table (default) or json
      --kubeconfig F   kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)
      --context C      kubeconfig context
  -h, --help

Exit codes: 0 done, 1 failed, 2 usage error.
`;

/** One row: a budget of an agent (and scope) as of `now`. */
export interface BudgetRow {
  agent: string;
  policy: string;
  budget: string;
  scope: string;
  used: number;
  limit: number;
  /** Units approvers granted in the window, on top of the limit. */
  granted: number;
  window: string;
  remaining: number;
  /** Seconds until the oldest counted request leaves the window (undefined: nothing counted). */
  nextFreeSeconds?: number;
}

export function rowsOf(items: BudgetUsage[], now: number): BudgetRow[] {
  return items
    .map((u) => {
      const windowMs = parseDurationMs(u.spec.window, 0);
      const { live, limit } = windowOf(u, { limit: u.spec.limit, windowMs }, now);
      return {
        agent: u.spec.agent,
        policy: u.spec.policy,
        budget: u.spec.budget,
        scope: u.spec.scope ?? '',
        used: live.length,
        limit: u.spec.limit,
        granted: limit - u.spec.limit,
        window: u.spec.window,
        remaining: Math.max(0, limit - live.length),
        ...(live.length ? { nextFreeSeconds: Math.max(0, Math.ceil((live[0]! + windowMs - now) / 1000)) } : {}),
      };
    })
    .sort((a, b) => a.agent.localeCompare(b.agent) || a.policy.localeCompare(b.policy) || a.budget.localeCompare(b.budget) || a.scope.localeCompare(b.scope));
}

export function table(rows: BudgetRow[]): string {
  const head = ['AGENT', 'POLICY', 'BUDGET', 'USED', 'WINDOW', 'REMAINING', 'NEXT-FREE', 'SCOPE'];
  const cells = rows.map((r) => [r.agent, r.policy, r.budget, `${r.used}/${r.limit}${r.granted ? `+${r.granted}` : ''}`, r.window, String(r.remaining), r.nextFreeSeconds === undefined ? '-' : humanDuration(r.nextFreeSeconds * 1000), r.scope || '-']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [head, ...cells].map((line) => line.map((c, i) => (i === line.length - 1 ? c : c.padEnd(widths[i]!))).join('   ')).join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        namespace: { type: 'string', short: 'n', default: 'airlock-system' },
        agent: { type: 'string' },
        policy: { type: 'string' },
        output: { type: 'string', short: 'o', default: 'table' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.output !== 'table' && values.output !== 'json') {
    process.stderr.write(`error: --output must be table or json, not ${JSON.stringify(values.output)}\n`);
    return 2;
  }
  try {
    const client = await KubeClient.load(values.kubeconfig, values.context);
    const list = await client.get<{ items: BudgetUsage[] }>(budgetUsagesPath(values.namespace));
    const rows = rowsOf(list.items, Date.now()).filter((r) => (!values.agent || r.agent === values.agent) && (!values.policy || r.policy === values.policy));
    if (values.output === 'json') process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    else if (rows.length === 0) process.stdout.write(`No budget has been used in namespace ${values.namespace}${values.agent ? ` by ${values.agent}` : ''}.\n`);
    else process.stdout.write(table(rows));
    return 0;
  } catch (err) {
    const why = err instanceof KubeApiError && err.status === 404 ? `namespace ${values.namespace} or the BudgetUsage CRD does not exist (is Airlock installed there?)` : (err as Error).message;
    process.stderr.write(`error: ${why}\n`);
    return 1;
  }
}
