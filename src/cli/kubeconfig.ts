// `kubectl airlock kubeconfig`: prints a kubeconfig for an agent that points at the Airlock proxy (never
// at the API server), trusting the proxy's CA, with a token, a token file, or an OIDC exec plugin.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';

export interface KubeconfigArgs {
  agent: string;
  server: string;
  caFile: string;
  namespace?: string;
  token?: string;
  tokenFile?: string;
  execOidc?: { issuerUrl: string; clientId: string; extraScopes: string[] };
}

const USAGE = `Usage: kubectl airlock kubeconfig --agent NAME --server https://PROXY:PORT --ca-file CA.crt
         (--token TOKEN | --token-file FILE | --exec-oidc ISSUER_URL --oidc-client-id ID [--oidc-extra-scope S]...)
         [--namespace NS]

Prints a kubeconfig for the agent NAME that sends every request through the Airlock proxy.
  --token        embed a bearer token (e.g. a ServiceAccount token)
  --token-file   reference a token file that is re-read on every request (projected tokens)
  --exec-oidc    get OIDC ID tokens with the kubelogin exec plugin (kubectl oidc-login)
`;

class UsageError extends Error {}

export function parseArgs(argv: string[]): KubeconfigArgs {
  const values: Record<string, string[]> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`flag --${key} needs a value`);
    (values[key] ??= []).push(value);
  }
  const known = new Set(['agent', 'server', 'ca-file', 'namespace', 'token', 'token-file', 'exec-oidc', 'oidc-client-id', 'oidc-extra-scope']);
  for (const k of Object.keys(values)) if (!known.has(k)) throw new UsageError(`unknown flag --${k}`);
  const one = (k: string): string | undefined => {
    const v = values[k];
    if (v && v.length > 1) throw new UsageError(`flag --${k} given more than once`);
    return v?.[0];
  };
  const agent = one('agent');
  const server = one('server');
  const caFile = one('ca-file');
  if (!agent) throw new UsageError('--agent is required');
  if (!/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/u.test(agent)) throw new UsageError(`--agent "${agent}" is not a valid name`);
  if (!server) throw new UsageError('--server is required');
  if (!caFile) throw new UsageError('--ca-file is required');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new UsageError(`--server "${server}" is not a URL`);
  }
  if (url.protocol !== 'https:') throw new UsageError('--server must be an https:// URL (the proxy serves TLS only)');
  const creds = ['token', 'token-file', 'exec-oidc'].filter((k) => values[k]);
  if (creds.length !== 1) throw new UsageError('give exactly one of --token, --token-file or --exec-oidc');
  const args: KubeconfigArgs = { agent, server: url.toString().replace(/\/$/u, ''), caFile };
  const ns = one('namespace');
  if (ns) args.namespace = ns;
  const token = one('token');
  if (token !== undefined) {
    if (!token || /\s/u.test(token)) throw new UsageError('--token must be a non-empty token without whitespace');
    args.token = token;
  }
  const tokenFile = one('token-file');
  if (tokenFile !== undefined) args.tokenFile = tokenFile;
  const issuer = one('exec-oidc');
  if (issuer !== undefined) {
    const clientId = one('oidc-client-id');
    if (!clientId) throw new UsageError('--exec-oidc needs --oidc-client-id');
    if (!issuer.startsWith('https://')) throw new UsageError('--exec-oidc must be the https:// issuer URL');
    args.execOidc = { issuerUrl: issuer, clientId, extraScopes: values['oidc-extra-scope'] ?? [] };
  } else if (values['oidc-client-id'] || values['oidc-extra-scope']) {
    throw new UsageError('--oidc-client-id and --oidc-extra-scope need --exec-oidc');
  }
  return args;
}

/** Builds the kubeconfig object (reads and checks the CA file). */
export function buildKubeconfig(args: KubeconfigArgs, readFile: (p: string) => Buffer = (p) => readFileSync(p)): Record<string, unknown> {
  const ca = readFile(args.caFile);
  try {
    new X509Certificate(ca);
  } catch {
    throw new UsageError(`--ca-file ${args.caFile} is not a PEM certificate`);
  }
  const name = `airlock-${args.agent}`;
  const user: Record<string, unknown> = {};
  if (args.token) user.token = args.token;
  if (args.tokenFile) user.tokenFile = args.tokenFile;
  if (args.execOidc) {
    user.exec = {
      apiVersion: 'client.authentication.k8s.io/v1',
      command: 'kubectl',
      args: [
        'oidc-login',
        'get-token',
        `--oidc-issuer-url=${args.execOidc.issuerUrl}`,
        `--oidc-client-id=${args.execOidc.clientId}`,
        ...args.execOidc.extraScopes.map((s) => `--oidc-extra-scope=${s}`),
      ],
      interactiveMode: 'IfAvailable',
      provideClusterInfo: false,
    };
  }
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: args.server, 'certificate-authority-data': ca.toString('base64') } }],
    users: [{ name: args.agent, user }],
    contexts: [{ name, context: { cluster: name, user: args.agent, ...(args.namespace ? { namespace: args.namespace } : {}) } }],
    'current-context': name,
    preferences: {},
  };
}

export async function main(argv: string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    io.stdout.write(USAGE);
    return 0;
  }
  try {
    const cfg = buildKubeconfig(parseArgs(argv));
    io.stdout.write(yaml.dump(cfg, { lineWidth: -1, noRefs: true }));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    io.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
}
