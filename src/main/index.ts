// Entry point and composition root: config -> logger, metrics, client -> components -> start. One process
// runs the operator (CRD install, AgentPolicy status, approval expiry, webhook certificate and registration
// behind a leader Lease), the validating admission webhook and the agent proxy. Nothing here (or in any
// module) reads the environment or makes state at import: main() does, once.
// SIGTERM drains: stop accepting, finish in-flight requests, release the Lease.
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { parseConfig, ConfigError, USAGE, type Config } from './config.js';
import { createLogger, errorField, type Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { KubeClient } from '../k8s/client.js';
import { ApiServerReachability } from '../k8s/reachability.js';
import { LeaderElector } from '../operator/leader.js';
import { lead, startComponents, type Component } from './component.js';
import { buildServices, type BaseDeps, type Deps } from './services.js';
import { probeComponents, serviceComponents, type Ports } from './components/index.js';

export interface Running {
  stop(): Promise<void>;
  proxyPort?: number;
  webhookPort?: number;
  healthPort: number;
  metricsPort: number;
}

export interface StartOptions {
  log: Logger;
  metrics: Metrics;
  /** The components after the probes (default: all of them); tests start a subset. */
  components?: (ports: Ports) => Component<Deps>[];
}

export async function start(cfg: Config, opts: StartOptions): Promise<Running> {
  const { metrics } = opts;
  const log = opts.log.child('main');
  const client = await KubeClient.load(cfg.kubeconfig, cfg.context);
  log.info('starting', { server: client.server.origin, namespace: cfg.namespace, identity: cfg.identity });
  const apiServer = new ApiServerReachability(client, {
    onChange: (reachable, error) => (reachable ? log.info('kube-apiserver reachable again') : log.warn('kube-apiserver unreachable; not ready', { error })),
  }).start();
  const base: BaseDeps = { cfg, client, log: opts.log, metrics, apiServer, state: { ready: false, draining: false, leading: !cfg.leaderElect } };
  const ports: Ports = {};
  const stopping = new AbortController();

  // Probes first, so they answer (not ready) during start-up.
  const probes = await startComponents(probeComponents(ports), base, { log, leaderOnly: false });
  const services = await buildServices(base, stopping.signal);
  const deps: Deps = { ...base, ...services };
  const components = (opts.components ?? serviceComponents)(ports);
  const serving = await startComponents(components, deps, { log, leaderOnly: false });

  // The singleton controllers run for as long as this replica leads (always, without leader election).
  let elector: LeaderElector | undefined;
  let standalone: Promise<void> | undefined;
  if (cfg.leaderElect) {
    elector = new LeaderElector({
      client,
      namespace: cfg.namespace,
      name: cfg.leaseName,
      identity: cfg.identity,
      onStartedLeading: (signal) => {
        base.state.leading = true;
        log.info('leading');
        return lead(components, deps, signal, log);
      },
      onStoppedLeading: () => {
        base.state.leading = false;
        log.info('stopped leading');
      },
      log: log.child('leader'),
      metrics,
    });
    elector.start();
  } else {
    standalone = lead(components, deps, stopping.signal, log);
  }

  base.state.ready = true;
  log.info('ready', { proxyPort: ports.proxy, webhookPort: ports.webhook, healthPort: ports.health, metricsPort: ports.metrics });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      base.state.draining = true;
      log.info('draining');
      await serving.stop();
      stopping.abort();
      await standalone;
      await elector?.stop();
      services.close();
      apiServer.stop();
      await probes.stop();
      client.close();
      log.info('stopped');
    })();
    return stopped;
  };
  return { stop, proxyPort: ports.proxy, webhookPort: ports.webhook, healthPort: ports.health!, metricsPort: ports.metrics! };
}

export async function main(argv: string[]): Promise<number> {
  let cfg: Config;
  try {
    cfg = parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      const isHelp = err.message === USAGE;
      process[isHelp ? 'stdout' : 'stderr'].write(isHelp ? USAGE : `error: ${err.message}\n`);
      return isHelp ? 0 : 2;
    }
    throw err;
  }
  // A bug that leaves a promise rejected must not take the proxy, webhook and operator down with it
  // (one crafted request would then stop every agent, and fail closed for all of them): log it, go on.
  const root = createLogger({ level: cfg.logLevel });
  const log = root.child('main');
  process.on('unhandledRejection', (err: unknown) => log.error('unhandled rejection', { error: errorField(err) }));
  const running = await start(cfg, { log: root, metrics: createMetrics({ processMetrics: true }) });
  await new Promise<void>((resolveSignal) => {
    const onSignal = (sig: string): void => {
      log.info('signal received', { signal: sig });
      const force = setTimeout(() => process.exit(1), 25_000);
      force.unref();
      running.stop().then(resolveSignal, resolveSignal);
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${JSON.stringify({ level: 'error', ts: new Date().toISOString(), component: 'main', msg: 'fatal', error: errorField(err) })}\n`);
      process.exit(1);
    },
  );
}
