// The webhook on every replica (its namespace-label cache, serving certificate updates), and on the leader
// its registration: the ValidatingWebhookConfiguration kept in line with the policies, and the serving
// certificate's rotation.
import type { Component } from '../component.js';
import type { Deps } from '../services.js';
import type { Ports, Served } from './shared.js';
import { errorField } from '../../log.js';
import { Informer, type KObject } from '../../k8s/informer.js';
import { startCertRotation } from '../../operator/certs.js';
import { WebhookConfigSyncer } from '../../operator/webhook-config.js';
import { startWebhook } from '../../webhook/server.js';
import { KubeAuditSink } from '../../webhook/audit.js';

export function webhookComponent(ports: Ports, served: Served): Component<Deps> {
  return {
    name: 'webhook',
    leaderOnly: false,
    async start(deps) {
      const { cfg, client, metrics, webhookCertificate } = deps;
      if (!cfg.webhook.enabled || !webhookCertificate) return;
      const log = deps.log.child('webhook');
      // Namespace labels for rules with namespace selectors (unknown until the first list: judged restrictively).
      const namespaces = new Informer<KObject>(client, '/api/v1/namespaces', {
        onError: (err) => log.warn('namespace watch error; relisting', { error: errorField(err) }),
      }).start();
      const controllerUsers = [...cfg.controllerUsers];
      const certs = webhookCertificate.current;
      const webhook = await startWebhook({
        // A namespace not (yet) in the cache has unknown labels: rules with selectors judge it restrictively,
        // so a namespace created and written to at once cannot slip past a rule meant for its labels.
        namespaceLabels: (ns) => {
          const known = namespaces.get(ns);
          return known ? ((known.metadata.labels as Record<string, string> | undefined) ?? {}) : undefined;
        },
        engine: deps.engine,
        approvals: deps.approvals,
        budgets: deps.budgets,
        audit: new KubeAuditSink({ client, log: log.child('audit') }),
        tls: { cert: certs.cert, key: certs.key },
        host: cfg.bindAddress,
        port: cfg.webhook.port,
        exemptUsers: controllerUsers,
        exemptGroups: cfg.controllerGroups,
        controllerUsers,
        controllerGroups: cfg.controllerGroups,
        failOpen: cfg.webhook.failurePolicy === 'Ignore',
        proxiedKey: deps.proxiedKey,
        serviceAccounts: deps.serviceAccounts,
        ready: () => deps.policies.informer.hasSynced(),
        log,
        metrics,
      });
      const unsubscribe = webhookCertificate.onChange((c) => webhook.updateCertificate({ cert: c.cert, key: c.key }));
      const othersServed = served.requests;
      served.requests = () => webhook.reviewsServed() + othersServed();
      ports.webhook = webhook.port;
      log.info('webhook serving', { port: webhook.port });
      return async () => {
        unsubscribe();
        await webhook.close();
        namespaces.stop();
      };
    },
  };
}

export function webhookRegistrationComponent(): Component<Deps> {
  return {
    name: 'webhook-registration',
    leaderOnly: true,
    async start({ cfg, client, log, metrics, policies, webhookCertificate }) {
      if (!cfg.webhook.enabled || !webhookCertificate) return;
      const controllerUsers = [...cfg.controllerUsers];
      const sync = new WebhookConfigSyncer(
        client,
        {
          ...(cfg.webhook.url ? { url: cfg.webhook.url } : { service: { namespace: cfg.namespace, name: cfg.webhook.serviceName, port: 443 } }),
          operatorNamespace: cfg.namespace,
          exemptNamespaces: cfg.webhook.exemptNamespaces,
          failurePolicy: cfg.webhook.failurePolicy,
          timeoutSeconds: cfg.webhook.timeoutSeconds,
          exemptUsers: controllerUsers,
          exemptGroups: cfg.controllerGroups,
        },
        { log: log.child('webhook-config') },
      );
      const rotator = startCertRotation(
        client,
        {
          ...webhookCertificate.options,
          intervalMs: 600_000,
          onChange: (c) => {
            webhookCertificate.set(c);
            sync.setCaBundle(c.caBundle);
          },
          log: log.child('certificates'),
          metrics,
        },
        webhookCertificate.current,
      );
      const syncPolicies = (): void => sync.setPolicies(policies.informer.list());
      sync.setCaBundle(webhookCertificate.current.caBundle);
      syncPolicies();
      await sync.flush().catch((err: unknown) => log.child('webhook-config').warn('webhook configuration', { error: errorField(err) }));
      policies.informer.on('add', syncPolicies).on('update', syncPolicies).on('delete', syncPolicies);
      return () => {
        policies.informer.off('add', syncPolicies).off('update', syncPolicies).off('delete', syncPolicies);
        rotator.stop();
        sync.stop();
      };
    },
  };
}
