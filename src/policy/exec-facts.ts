// What an exec request runs and what is hazardous about it, worked out once per request: several rules
// (command patterns, one detector per hazard class) ask the same questions of the same argv.
import type { ExecAttributes, ExecTarget } from './types.js';
import { effectiveCommand, execHazards, type EffectiveCommand, type Hazard } from './exec-command.js';

const commands = new WeakMap<readonly string[], EffectiveCommand>();
const hazards = new WeakMap<ExecAttributes, Hazard[]>();

/** The effective command of an argv (wrappers peeled), cached on the argv array. */
export function commandOf(argv: readonly string[]): EffectiveCommand {
  let c = commands.get(argv);
  if (!c) commands.set(argv, (c = effectiveCommand(argv)));
  return c;
}

/** Every hazard of an exec or attach (attach: only whether it is interactive), cached on the attributes. */
export function hazardsOf(exec: ExecAttributes): Hazard[] {
  let h = hazards.get(exec);
  if (h === undefined) {
    const ctx = { credentialPaths: exec.target?.credentialPaths ?? [], interactive: exec.interactive, ...(exec.target?.workingDir ? { workingDir: exec.target.workingDir } : {}) };
    // An attach runs nothing new: only whether it is interactive counts. An exec is judged on its argv
    // (an empty one too: the API server refuses it, and execHazards calls it a shell).
    const found: Hazard[] = exec.kind === 'exec' ? execHazards(exec.command, ctx) : exec.interactive ? [{ class: 'interactive', message: 'an interactive session (stdin or a terminal)' }] : [];
    hazards.set(exec, found);
    return found;
  }
  return h;
}

/**
 * The exec attributes of a pods/exec or pods/attach request from its connect options (the proxy's parsed
 * query, the webhook's PodExecOptions / PodAttachOptions: the same field names), or undefined for others.
 */
export function execAttributesOf(
  r: { apiGroup: string; resource: string; subresource?: string },
  options: Record<string, unknown> | undefined,
  target?: ExecTarget,
): ExecAttributes | undefined {
  if (r.apiGroup !== '' || r.resource !== 'pods' || (r.subresource !== 'exec' && r.subresource !== 'attach')) return undefined;
  const o = options ?? {};
  const command = r.subresource === 'exec' && Array.isArray(o.command) ? o.command.filter((c): c is string => typeof c === 'string') : [];
  return {
    kind: r.subresource,
    command,
    ...(typeof o.container === 'string' && o.container ? { container: o.container } : {}),
    interactive: o.stdin === true || o.tty === true,
    ...(target ? { target } : {}),
  };
}
