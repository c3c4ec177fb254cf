// `kubectl airlock` (and `airlock`): dispatches to subcommands. Each subcommand module exports
// `main(argv: string[]): Promise<number>` and is loaded only when used.
const commands: Record<string, { module: string; help: string }> = {
  test: { module: './airlock-test.js', help: 'test policies offline: -p policy.yaml -r request.yaml, or a directory of cases' },
  kubeconfig: { module: './kubeconfig.js', help: 'print a kubeconfig for an agent that points at the proxy' },
  sessions: { module: './sessions.js', help: 'list recorded agent sessions' },
  replay: { module: './replay.js', help: 'replay a recorded session (timeline, exec streams)' },
  verify: { module: './verify.js', help: 'verify the hash chain of session recordings' },
  budgets: { module: './budgets.js', help: "show each agent's use of its AgentPolicy budgets" },
  run: { module: '../main/index.js', help: 'run the operator, proxy and webhook (see --help)' },
};

function usage(): string {
  const lines = Object.entries(commands).map(([k, v]) => `  ${k.padEnd(11)} ${v.help}`);
  return `Usage: kubectl airlock <command> [flags]\n\nCommands:\n${lines.join('\n')}\n\n  --version   print the version\n\nExit codes: 0 done, 1 failed, 2 usage error.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === 'version') {
    process.stdout.write(`airlock ${(await import('./version.js')).airlockVersion()}\n`);
    return 0;
  }
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(usage());
    return cmd ? 0 : 2;
  }
  const entry = commands[cmd];
  if (!entry) {
    process.stderr.write(`error: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  const mod = (await import(entry.module)) as { main: (argv: string[]) => Promise<number> };
  return mod.main(rest);
}
