// Process configuration: defaults, then an optional YAML/JSON config file (--config), then flags.
// Invalid values produce errors that name the flag or the config field.
import { readFileSync } from 'node:fs';
import { maskingKeyFromEnv } from '../masking/marker.js';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import yaml from 'js-yaml';
import { LEVELS, type Level } from '../log.js';

export interface OidcIssuerConfig {
  issuerURL: string;
  audience: string;
  usernameClaim?: string;
  usernamePrefix?: string;
  groupsClaim?: string;
  groupsPrefix?: string;
  /** CA bundle (PEM file) for the issuer's TLS, when not publicly trusted. */
  caFile?: string;
}

export interface Config {
  kubeconfig?: string;
  context?: string;
  namespace: string;
  installCrds: boolean;
  leaderElect: boolean;
  leaseName: string;
  identity: string;
  healthPort: number;
  metricsPort: number;
  bindAddress: string;
  proxy: {
    enabled: boolean;
    port: number;
    certFile?: string;
    keyFile?: string;
    clientCAFile?: string;
    maxBodyBytes: number;
    /** Bound on a non-watch request upstream when the client's ?timeout= sets none (seconds). */
    upstreamTimeoutSeconds: number;
    tokenReview: boolean;
    /**
     * Audiences agents' bearer tokens must be issued for (TokenReview spec.audiences). Set one that only
     * Airlock accepts (e.g. `airlock`, with tokens from `kubectl create token --audience airlock`): such a
     * token is refused by kube-apiserver itself, so the agent cannot go around the proxy with it.
     */
    tokenAudiences: string[];
    oidc: OidcIssuerConfig[];
  };
  webhook: {
    enabled: boolean;
    port: number;
    /** Register the webhook by URL (local mode), e.g. https://127.0.0.1:9443/validate. */
    url?: string;
    serviceName: string;
    failurePolicy: 'Fail' | 'Ignore';
    timeoutSeconds: number;
    exemptNamespaces: string[];
    /** Where the serving certificate lives (Secret in the operator namespace). */
    certSecretName: string;
  };
  recording: {
    dir: string;
    fsync: 'always' | 'interval';
    auditLog?: string;
    /** Retention: whole sessions are deleted, oldest first, while the directory holds more (0: no limit). */
    maxTotalBytes: number;
    /** Retention: sessions older than this are deleted (0: no limit). */
    maxAgeDays: number;
    /** A record keeps at most this much of each body (larger: size and sha256 only, with the first bytes). */
    maxBodyBytes: number;
  };
  /** OpenTelemetry traces of agent requests, exported over OTLP/HTTP (absent: no traces). */
  tracing?: {
    /** The OTLP/HTTP traces URL, such as http://otel-collector:4318/v1/traces. */
    endpoint: string;
    /** Fraction of agent requests traced, drawn by Airlock (a caller's traceparent links the trace but never decides). */
    sampleRatio: number;
  };
  /** AIRLOCK_MASKING_KEY, when set; otherwise the installation's key Secret (src/operator/masking-key.ts). */
  maskingKey?: Buffer;
  /** Identities that are Airlock itself (may mark Approvals consumed/expired). */
  controllerUsers: string[];
  controllerGroups: string[];
  logLevel: Level;
}

/** Defaults, some from the environment the pod spec sets (POD_NAMESPACE, POD_NAME, AIRLOCK_*, OTEL_*). */
export function defaultConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const logLevel = env.AIRLOCK_LOG_LEVEL?.trim();
  return {
    namespace: env.POD_NAMESPACE || 'airlock-system',
    installCrds: true,
    leaderElect: true,
    leaseName: 'airlock-controller',
    // Stable across restarts (the pod name; locally the hostname), so a restarted replica takes its own
    // Lease over at once instead of waiting for it to expire (src/operator/leader.ts).
    identity: env.POD_NAME?.trim() || hostname(),
    ...(env.AIRLOCK_MASKING_KEY ? { maskingKey: maskingKeyFromEnv(env) } : {}),
    ...tracingFromEnv(env),
    healthPort: 8081,
    metricsPort: 8080,
    bindAddress: '0.0.0.0',
    proxy: { enabled: true, port: 8443, maxBodyBytes: 3 * 1024 * 1024, upstreamTimeoutSeconds: 60, tokenReview: true, tokenAudiences: [], oidc: [] },
    webhook: {
      enabled: true,
      port: 9443,
      serviceName: 'airlock-webhook',
      failurePolicy: 'Fail',
      timeoutSeconds: 10,
      exemptNamespaces: [],
      certSecretName: 'airlock-webhook-tls',
    },
    recording: { dir: '/var/lib/airlock/recordings', fsync: 'always', maxTotalBytes: 8 * 1024 ** 3, maxAgeDays: 90, maxBodyBytes: 64 * 1024 },
    controllerUsers: [],
    controllerGroups: ['airlock:controllers'],
    logLevel: logLevel && (LEVELS as readonly string[]).includes(logLevel) ? (logLevel as Level) : 'info',
  };
}

/** Tracing from the OpenTelemetry SDK's own variables: the traces URL, or the base URL it appends /v1/traces to. */
function tracingFromEnv(env: NodeJS.ProcessEnv): Pick<Config, 'tracing'> {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const endpoint = traces || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  return endpoint ? { tracing: { endpoint, sampleRatio: 1 } } : {};
}

export class ConfigError extends Error {}

const port = (name: string, v: unknown): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name}: must be a port number 0-65535, got ${JSON.stringify(v)}`);
  return n;
};
const UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
/** A whole number, optionally with a Kubernetes quantity suffix (Ki, Mi, Gi, Ti, k, M, G, T). */
const quantity = (name: string, v: unknown, min: number): number => {
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(v).trim());
  const n = m ? Number(m[1]) * UNITS[m[2] ?? '']! : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`${name}: must be a whole number >= ${min} (suffixes Ki, Mi, Gi allowed), got ${JSON.stringify(v)}`);
  return n;
};
const bool = (name: string, v: unknown): boolean => {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(`${name}: must be true or false, got ${JSON.stringify(v)}`);
};
const list = (v: string | undefined): string[] => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merges a config file's object into the config, rejecting unknown fields with their path. */
function mergeFile(target: Record<string, unknown>, src: Record<string, unknown>, path: string): void {
  for (const [k, v] of Object.entries(src)) {
    const p = path ? `${path}.${k}` : k;
    if (!(k in target) && !['kubeconfig', 'context', 'certFile', 'keyFile', 'clientCAFile', 'url', 'auditLog'].includes(k)) {
      throw new ConfigError(`${p}: unknown field`);
    }
    const cur = target[k];
    if (isObject(cur) && isObject(v)) mergeFile(cur, v, p);
    else if (isObject(cur) && !isObject(v)) throw new ConfigError(`${p}: must be an object`);
    else target[k] = v;
  }
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      namespace: { type: 'string' },
      'install-crds': { type: 'string' },
      'leader-elect': { type: 'string' },
      'lease-name': { type: 'string' },
      identity: { type: 'string' },
      'bind-address': { type: 'string' },
      'health-port': { type: 'string' },
      'metrics-port': { type: 'string' },
      'proxy-enabled': { type: 'string' },
      'proxy-port': { type: 'string' },
      'proxy-cert': { type: 'string' },
      'proxy-key': { type: 'string' },
      'proxy-client-ca': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'oidc-issuer-url': { type: 'string' },
      'oidc-audience': { type: 'string' },
      'oidc-username-claim': { type: 'string' },
      'oidc-groups-claim': { type: 'string' },
      'oidc-ca-file': { type: 'string' },
      'webhook-enabled': { type: 'string' },
      'webhook-port': { type: 'string' },
      'webhook-url': { type: 'string' },
      'webhook-service': { type: 'string' },
      'failure-policy': { type: 'string' },
      'webhook-timeout-seconds': { type: 'string' },
      'exempt-namespaces': { type: 'string' },
      'recording-dir': { type: 'string' },
      'recording-fsync': { type: 'string' },
      'audit-log': { type: 'string' },
      'recording-max-bytes': { type: 'string' },
      'recording-max-age-days': { type: 'string' },
      'recording-max-body-bytes': { type: 'string' },
      'upstream-timeout-seconds': { type: 'string' },
      'tracing-endpoint': { type: 'string' },
      'tracing-sample-ratio': { type: 'string' },
      'token-audiences': { type: 'string' },
      'controller-users': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) throw new ConfigError(USAGE);
  const cfg = defaultConfig(env);
  if (values.config) {
    let parsed: unknown;
    try {
      parsed = yaml.load(readFileSync(values.config, 'utf8'));
    } catch (err) {
      throw new ConfigError(`--config ${values.config}: ${(err as Error).message}`);
    }
    if (!isObject(parsed)) throw new ConfigError(`--config ${values.config}: must contain a mapping`);
    mergeFile(cfg as unknown as Record<string, unknown>, parsed, '');
  }
  const v = values;
  if (v.kubeconfig) cfg.kubeconfig = v.kubeconfig;
  if (v.context) cfg.context = v.context;
  if (v.namespace) cfg.namespace = v.namespace;
  if (v['install-crds'] !== undefined) cfg.installCrds = bool('--install-crds', v['install-crds']);
  if (v['leader-elect'] !== undefined) cfg.leaderElect = bool('--leader-elect', v['leader-elect']);
  if (v['lease-name']) cfg.leaseName = v['lease-name'];
  if (v.identity) cfg.identity = v.identity;
  if (v['bind-address']) cfg.bindAddress = v['bind-address'];
  if (v['health-port'] !== undefined) cfg.healthPort = port('--health-port', v['health-port']);
  if (v['metrics-port'] !== undefined) cfg.metricsPort = port('--metrics-port', v['metrics-port']);
  if (v['proxy-enabled'] !== undefined) cfg.proxy.enabled = bool('--proxy-enabled', v['proxy-enabled']);
  if (v['proxy-port'] !== undefined) cfg.proxy.port = port('--proxy-port', v['proxy-port']);
  if (v['proxy-cert']) cfg.proxy.certFile = v['proxy-cert'];
  if (v['proxy-key']) cfg.proxy.keyFile = v['proxy-key'];
  if (v['proxy-client-ca']) cfg.proxy.clientCAFile = v['proxy-client-ca'];
  if (v['max-body-bytes'] !== undefined) {
    const n = Number(v['max-body-bytes']);
    if (!Number.isInteger(n) || n < 1024) throw new ConfigError(`--max-body-bytes: must be an integer >= 1024, got ${v['max-body-bytes']}`);
    cfg.proxy.maxBodyBytes = n;
  }
  if (v['oidc-issuer-url']) {
    if (!v['oidc-audience']) throw new ConfigError('--oidc-audience: required with --oidc-issuer-url');
    cfg.proxy.oidc.push({
      issuerURL: v['oidc-issuer-url'],
      audience: v['oidc-audience'],
      usernameClaim: v['oidc-username-claim'],
      groupsClaim: v['oidc-groups-claim'],
      caFile: v['oidc-ca-file'],
    });
  }
  if (v['webhook-enabled'] !== undefined) cfg.webhook.enabled = bool('--webhook-enabled', v['webhook-enabled']);
  if (v['webhook-port'] !== undefined) cfg.webhook.port = port('--webhook-port', v['webhook-port']);
  if (v['webhook-url']) cfg.webhook.url = v['webhook-url'];
  if (v['webhook-service']) cfg.webhook.serviceName = v['webhook-service'];
  if (v['failure-policy']) {
    if (v['failure-policy'] !== 'Fail' && v['failure-policy'] !== 'Ignore') throw new ConfigError(`--failure-policy: must be Fail or Ignore, got ${v['failure-policy']}`);
    cfg.webhook.failurePolicy = v['failure-policy'];
  }
  if (v['webhook-timeout-seconds'] !== undefined) {
    const n = Number(v['webhook-timeout-seconds']);
    if (!Number.isInteger(n) || n < 1 || n > 30) throw new ConfigError(`--webhook-timeout-seconds: must be 1-30, got ${v['webhook-timeout-seconds']}`);
    cfg.webhook.timeoutSeconds = n;
  }
  if (v['exempt-namespaces'] !== undefined) cfg.webhook.exemptNamespaces = list(v['exempt-namespaces']);
  if (v['recording-dir']) cfg.recording.dir = v['recording-dir'];
  if (v['recording-fsync']) {
    if (v['recording-fsync'] !== 'always' && v['recording-fsync'] !== 'interval') throw new ConfigError(`--recording-fsync: must be always or interval`);
    cfg.recording.fsync = v['recording-fsync'];
  }
  if (v['audit-log']) cfg.recording.auditLog = v['audit-log'];
  if (v['recording-max-bytes'] !== undefined) cfg.recording.maxTotalBytes = quantity('--recording-max-bytes', v['recording-max-bytes'], 0);
  if (v['recording-max-age-days'] !== undefined) cfg.recording.maxAgeDays = quantity('--recording-max-age-days', v['recording-max-age-days'], 0);
  if (v['recording-max-body-bytes'] !== undefined) cfg.recording.maxBodyBytes = quantity('--recording-max-body-bytes', v['recording-max-body-bytes'], 1024);
  if (v['tracing-endpoint'] !== undefined) {
    if (!/^https?:\/\/[^/\s]+/.test(v['tracing-endpoint'])) throw new ConfigError(`--tracing-endpoint: must be an http(s) URL of an OTLP/HTTP traces receiver, got ${JSON.stringify(v['tracing-endpoint'])}`);
    cfg.tracing = { endpoint: v['tracing-endpoint'], sampleRatio: cfg.tracing?.sampleRatio ?? 1 };
  }
  if (v['tracing-sample-ratio'] !== undefined) {
    const r = Number(v['tracing-sample-ratio']);
    if (!(r >= 0 && r <= 1)) throw new ConfigError(`--tracing-sample-ratio: must be a number within 0..1, got ${JSON.stringify(v['tracing-sample-ratio'])}`);
    if (!cfg.tracing) throw new ConfigError('--tracing-sample-ratio: needs --tracing-endpoint (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)');
    cfg.tracing.sampleRatio = r;
  }
  if (v['token-audiences'] !== undefined) cfg.proxy.tokenAudiences = list(v['token-audiences']);
  if (v['upstream-timeout-seconds'] !== undefined) {
    const n = Number(v['upstream-timeout-seconds']);
    if (!Number.isInteger(n) || n < 1 || n > 3600) throw new ConfigError(`--upstream-timeout-seconds: must be 1-3600, got ${v['upstream-timeout-seconds']}`);
    cfg.proxy.upstreamTimeoutSeconds = n;
  }
  if (v['controller-users'] !== undefined) cfg.controllerUsers = list(v['controller-users']);
  if (v['log-level']) {
    if (!['debug', 'info', 'warn', 'error'].includes(v['log-level'])) throw new ConfigError(`--log-level: must be debug, info, warn or error`);
    cfg.logLevel = v['log-level'] as Config['logLevel'];
  }
  if (cfg.proxy.enabled && (!cfg.proxy.certFile || !cfg.proxy.keyFile)) {
    throw new ConfigError('--proxy-cert and --proxy-key: required when the proxy is enabled (or --proxy-enabled=false)');
  }
  for (const [i, o] of cfg.proxy.oidc.entries()) {
    if (!o.issuerURL?.startsWith('https://')) throw new ConfigError(`proxy.oidc[${i}].issuerURL: must be an https:// URL`);
    if (!o.audience) throw new ConfigError(`proxy.oidc[${i}].audience: is required`);
  }
  return cfg;
}

export const USAGE = `Usage: airlock run [flags]

Runs the Airlock operator (CRD install, AgentPolicy status, approval expiry, webhook certificate and
registration), the validating admission webhook and the agent proxy in one process.

  --config FILE               YAML/JSON config file (same fields as the flags, nested; see docs/install.md)
  --kubeconfig FILE           kubeconfig (default: in-cluster, then KUBECONFIG / ~/.kube/config)
  --context NAME              kubeconfig context
  --namespace NS              operator namespace (default airlock-system; exempt from the webhook)
  --install-crds BOOL         install/upgrade CRDs with server-side apply at start (default true)
  --leader-elect BOOL         elect a leader for singleton controllers (default true)
  --health-port N             /healthz and /readyz (default 8081)
  --metrics-port N            Prometheus /metrics (default 8080)
  --proxy-port N              agent proxy HTTPS port (default 8443)
  --proxy-cert/--proxy-key    proxy serving certificate and key (PEM files)
  --proxy-client-ca FILE      accept client certificates signed by this CA
  --max-body-bytes N          largest request body the proxy accepts (default 3145728)
  --oidc-issuer-url URL       OIDC issuer for agent JWTs (with --oidc-audience, --oidc-username-claim, --oidc-groups-claim)
  --webhook-port N            admission webhook HTTPS port (default 9443)
  --webhook-url URL           register the webhook by URL (local mode) instead of by Service
  --webhook-service NAME      Service fronting the webhook in --namespace (default airlock-webhook)
  --failure-policy Fail|Ignore  webhook failurePolicy (default Fail)
  --webhook-timeout-seconds N   webhook timeoutSeconds, 1-30 (default 10)
  --exempt-namespaces a,b     namespaces the webhook never sees (the operator namespace and kube-system always)
  --recording-dir DIR         session recordings (default /var/lib/airlock/recordings)
  --recording-fsync always|interval
  --recording-max-bytes N     retention: delete oldest sessions while recordings exceed N (default 8Gi; 0: no limit)
  --recording-max-age-days N  retention: delete sessions older than N days (default 90; 0: no limit)
  --recording-max-body-bytes N  bodies kept per record; larger ones keep size and sha256 (default 64Ki)
  --token-audiences a,b       audiences agents' tokens must carry (TokenReview); one only Airlock accepts keeps agents off kube-apiserver
  --upstream-timeout-seconds N  bound on a non-watch request to kube-apiserver when the client sets none (default 60)
  --tracing-endpoint URL      export OpenTelemetry traces of agent requests over OTLP/HTTP (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
  --tracing-sample-ratio R    fraction of agent requests traced, 0..1 (default 1; drawn by Airlock, never by the caller's traceparent)
  --audit-log FILE            also append audit.k8s.io/v1 Events for every agent request
  --log-level LEVEL           debug, info, warn, error
`;
