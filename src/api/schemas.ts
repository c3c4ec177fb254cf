// The single source of truth for Airlock's CRD schemas (structural OpenAPI v3). crds/*.yaml are generated
// from these (npm run gen:crds); test/unit/crds.test.ts fails when crds/ drifts. ajv validates the same
// schemas at runtime (src/api/validate.ts).
import { GROUP, VERSION } from './types.js';

type Schema = Record<string, unknown>;

const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const strList = (maxItems = 256, item: Schema = {}): Schema => ({
  type: 'array',
  maxItems,
  items: { type: 'string', maxLength: 253, ...item },
});
const DURATION = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
const NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

const labelSelector: Schema = {
  type: 'object',
  properties: {
    matchLabels: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 64 },
    matchExpressions: {
      type: 'array',
      maxItems: 64,
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: str({ maxLength: 317 }),
          operator: str({ enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }),
          values: strList(),
        },
        'x-kubernetes-validations': [
          {
            rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
            message: 'values must be non-empty for In/NotIn and empty for Exists/DoesNotExist',
          },
        ],
      },
    },
  },
};

const holdSpec: Schema = {
  type: 'object',
  properties: {
    approvers: {
      type: 'object',
      properties: { users: strList(), groups: strList() },
    },
    required: { type: 'integer', minimum: 1, maximum: 10 },
    ttl: str({ pattern: DURATION }),
    mode: str({ enum: ['inline', 'async'] }),
    inlineTimeout: str({ pattern: DURATION }),
    uses: { type: 'integer', minimum: 1, maximum: 1000 },
  },
};

const regoRef: Schema = {
  type: 'object',
  required: ['entrypoint'],
  properties: {
    entrypoint: str({ minLength: 1, maxLength: 253 }),
    wasmBase64: str({ maxLength: 1048576 }),
    configMapRef: {
      type: 'object',
      required: ['namespace', 'name'],
      properties: { namespace: str({ maxLength: 63 }), name: str({ maxLength: 253 }), key: str({ maxLength: 253 }) },
    },
    memoryLimitMiB: { type: 'integer', minimum: 2, maximum: 512 },
    timeoutMilliseconds: { type: 'integer', minimum: 1, maximum: 1000 },
  },
  'x-kubernetes-validations': [
    { rule: 'has(self.wasmBase64) != has(self.configMapRef)', message: 'exactly one of wasmBase64 or configMapRef must be set' },
  ],
};

const ruleMatch: Schema = {
  type: 'object',
  properties: {
    verbs: strList(32),
    apiGroups: strList(),
    resources: strList(),
    namespaces: strList(),
    names: strList(),
    labelSelector,
    namespaceSelector: labelSelector,
    via: { type: 'array', maxItems: 2, items: str({ enum: ['proxy', 'webhook'] }) },
    nonResourceURLs: strList(64, { maxLength: 1024 }),
    commands: strList(256, { maxLength: 1024 }),
  },
};

const rule: Schema = {
  type: 'object',
  required: ['name', 'action'],
  properties: {
    name: str({ minLength: 1, maxLength: 63, pattern: NAME }),
    match: ruleMatch,
    detectors: strList(64, { maxLength: 63 }),
    rego: regoRef,
    action: str({ enum: ['allow', 'deny', 'hold', 'mutate', 'audit'] }),
    message: str({ maxLength: 1024 }),
    hold: holdSpec,
    mutate: {
      type: 'object',
      required: ['patch'],
      properties: {
        patch: {
          type: 'array',
          maxItems: 64,
          items: {
            type: 'object',
            required: ['op', 'path'],
            properties: {
              op: str({ enum: ['add', 'remove', 'replace', 'copy', 'move', 'test'] }),
              path: str({ maxLength: 1024 }),
              from: str({ maxLength: 1024 }),
              value: { 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    },
  },
  'x-kubernetes-validations': [
    { rule: "self.action == 'mutate' ? has(self.mutate) : !has(self.mutate)", message: 'mutate is required for action mutate and only allowed there' },
    { rule: "!has(self.hold) || self.action == 'hold'", message: 'hold settings are only allowed for action hold' },
  ],
};

const budget: Schema = {
  type: 'object',
  required: ['name', 'match', 'limit', 'window'],
  properties: {
    // Approvals name it as rule "budget:<name>" (at most 63 characters).
    name: str({ minLength: 1, maxLength: 56, pattern: NAME }),
    match: ruleMatch,
    limit: { type: 'integer', minimum: 1, maximum: 10000 },
    window: str({ pattern: DURATION }),
    per: {
      type: 'object',
      properties: { namespace: { type: 'boolean' }, label: str({ minLength: 1, maxLength: 317 }) },
      'x-kubernetes-validations': [{ rule: '!(has(self.namespace) && self.namespace && has(self.label))', message: 'per names a namespace or a label, not both' }],
    },
    onExhausted: str({ enum: ['hold', 'deny', 'audit'] }),
    hold: holdSpec,
    grant: { type: 'integer', minimum: 1, maximum: 10000 },
    message: str({ maxLength: 1024 }),
  },
  'x-kubernetes-validations': [
    { rule: "!has(self.hold) || !has(self.onExhausted) || self.onExhausted == 'hold'", message: 'hold settings are only allowed for onExhausted hold' },
    { rule: "!has(self.grant) || !has(self.onExhausted) || self.onExhausted == 'hold'", message: 'grant is only allowed for onExhausted hold' },
  ],
};

const tokenBucket: Schema = {
  type: 'object',
  required: ['qps'],
  properties: { qps: { type: 'number', minimum: 0.001, maximum: 100000 }, burst: { type: 'integer', minimum: 1, maximum: 100000 } },
};

const conditions: Schema = {
  type: 'array',
  maxItems: 32,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: {
    type: 'object',
    required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
    properties: {
      type: str({ maxLength: 316 }),
      status: str({ enum: ['True', 'False', 'Unknown'] }),
      reason: str({ maxLength: 1024 }),
      message: str({ maxLength: 32768 }),
      lastTransitionTime: str({ format: 'date-time' }),
      observedGeneration: { type: 'integer', minimum: 0 },
    },
  },
};

export const agentPolicySpecSchema: Schema = {
  type: 'object',
  required: ['agents'],
  properties: {
    agents: {
      type: 'object',
      properties: {
        users: strList(),
        groups: strList(),
        serviceAccounts: {
          type: 'array',
          maxItems: 256,
          items: {
            type: 'object',
            required: ['namespace', 'name'],
            properties: { namespace: str({ maxLength: 63 }), name: str({ maxLength: 253 }) },
          },
        },
        claims: {
          type: 'array',
          maxItems: 32,
          items: {
            type: 'object',
            required: ['claim', 'values'],
            properties: { claim: str({ minLength: 1, maxLength: 253 }), values: strList() },
          },
        },
      },
      'x-kubernetes-validations': [
        {
          rule: 'has(self.users) || has(self.groups) || has(self.serviceAccounts) || has(self.claims)',
          message: 'agents must name at least one of users, groups, serviceAccounts or claims',
        },
      ],
    },
    namespaces: strList(),
    excludeNamespaces: strList(),
    rules: {
      type: 'array',
      maxItems: 256,
      items: rule,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
    defaultAction: str({ enum: ['allow', 'deny', 'hold', 'audit'] }),
    detectorSettings: {
      type: 'object',
      properties: {
        allowedRegistries: strList(),
        allowMutableTags: { type: 'boolean' },
        agentsMayDeleteOwnNamespaces: { type: 'boolean' },
        protectedNamespaces: strList(),
        dangerousCapabilities: strList(),
        agentsMayDeleteControlledPods: { type: 'boolean' },
        serviceAccountBound: {
          type: 'object',
          required: ['permissions'],
          properties: {
            permissions: {
              type: 'array',
              maxItems: 256,
              items: {
                type: 'object',
                required: ['verb', 'resource'],
                properties: {
                  verb: str({ minLength: 1, maxLength: 64 }),
                  group: str({ maxLength: 253 }),
                  resource: str({ minLength: 1, maxLength: 253 }),
                  subresource: str({ maxLength: 253 }),
                  namespace: str({ minLength: 1, maxLength: 63, pattern: '^(same|\\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$' }),
                },
              },
            },
          },
        },
      },
    },
    masking: {
      type: 'object',
      properties: {
        secrets: { type: 'boolean' },
        envNamePatterns: strList(64, { maxLength: 1024 }),
        configMaps: { type: 'boolean' },
        logs: { type: 'boolean' },
        patterns: strList(64, { maxLength: 1024 }),
      },
    },
    recording: {
      type: 'object',
      properties: { enabled: { type: 'boolean' }, bodies: { type: 'boolean' }, readFailurePolicy: str({ enum: ['Fail', 'Ignore'] }) },
    },
    approvals: holdSpec,
    failurePolicy: str({ enum: ['deny', 'allow'] }),
    budgets: {
      type: 'array',
      maxItems: 64,
      items: budget,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
    rateLimits: {
      type: 'object',
      properties: {
        read: tokenBucket,
        write: tokenBucket,
        connect: tokenBucket,
        maxInFlight: { type: 'integer', minimum: 1, maximum: 100000 },
        priority: str({ enum: ['reads', 'none'] }),
      },
    },
  },
};

export const agentPolicySchema: Schema = {
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: str(),
    kind: str(),
    metadata: { type: 'object' },
    spec: agentPolicySpecSchema,
    status: {
      type: 'object',
      properties: {
        observedGeneration: { type: 'integer', minimum: 0 },
        conditions,
        rules: { type: 'integer' },
      },
    },
  },
};

const approvalRequest: Schema = {
  type: 'object',
  required: ['user', 'verb', 'apiGroup', 'apiVersion', 'resource', 'via', 'fingerprint', 'summary'],
  properties: {
    user: str({ maxLength: 1024 }),
    uid: str({ maxLength: 1024 }),
    groups: strList(256, { maxLength: 1024 }),
    verb: str({ maxLength: 63 }),
    operation: str({ maxLength: 63 }),
    apiGroup: str({ maxLength: 253 }),
    apiVersion: str({ maxLength: 63 }),
    resource: str({ maxLength: 253 }),
    subresource: str({ maxLength: 253 }),
    namespace: str({ maxLength: 63 }),
    name: str({ maxLength: 253 }),
    via: str({ enum: ['proxy', 'webhook'] }),
    fingerprint: str({ pattern: '^[0-9a-f]{64}$' }),
    summary: str({ maxLength: 4096 }),
    options: { type: 'object', maxProperties: 64, additionalProperties: str({ maxLength: 4096 }) },
    collection: {
      type: 'object',
      required: ['count', 'names'],
      properties: { count: { type: 'integer', minimum: 0 }, names: strList(100, { maxLength: 317 }) },
    },
    exec: {
      type: 'object',
      required: ['command', 'interactive'],
      properties: {
        command: strList(256, { maxLength: 4096 }),
        interactive: { type: 'boolean' },
        pod: str({ maxLength: 253 }),
        podUID: str({ maxLength: 63 }),
        container: str({ maxLength: 253 }),
        image: str({ maxLength: 4096 }),
        serviceAccount: str({ maxLength: 253 }),
      },
    },
    diff: str({ maxLength: 262144 }),
    object: str({ maxLength: 262144 }),
  },
};

export const approvalSchema: Schema = {
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: str(),
    kind: str(),
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['request', 'policy', 'approvers', 'required', 'uses', 'expiresAt'],
      'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'spec is immutable: an Approval records one request' }],
      properties: {
        request: approvalRequest,
        policy: {
          type: 'object',
          required: ['name', 'rule'],
          properties: { name: str({ maxLength: 253 }), rule: str({ maxLength: 63 }), message: str({ maxLength: 4096 }) },
        },
        approvers: { type: 'object', properties: { users: strList(), groups: strList() } },
        required: { type: 'integer', minimum: 1, maximum: 10 },
        uses: { type: 'integer', minimum: 1, maximum: 1000 },
        expiresAt: str({ format: 'date-time' }),
      },
    },
    status: {
      type: 'object',
      properties: {
        phase: str({ enum: ['Pending', 'Approved', 'Denied', 'Expired', 'Consumed'] }),
        decisions: {
          type: 'array',
          maxItems: 64,
          items: {
            type: 'object',
            required: ['decision', 'by', 'at'],
            properties: {
              decision: str({ enum: ['approve', 'deny'] }),
              by: str({ maxLength: 1024 }),
              at: str({ format: 'date-time' }),
              comment: str({ maxLength: 4096 }),
            },
          },
        },
        usesConsumed: { type: 'integer', minimum: 0 },
        consumedBy: strList(1000, { maxLength: 1024 }),
        conditions,
        observedGeneration: { type: 'integer', minimum: 0 },
        message: str({ maxLength: 4096 }),
      },
    },
  },
};

export const budgetUsageSchema: Schema = {
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: str(),
    kind: str(),
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['agent', 'policy', 'budget', 'limit', 'window'],
      properties: {
        agent: str({ maxLength: 1024 }),
        policy: str({ maxLength: 253 }),
        budget: str({ maxLength: 63 }),
        scope: str({ maxLength: 1024 }),
        limit: { type: 'integer', minimum: 1 },
        window: str({ maxLength: 64 }),
      },
    },
    status: {
      type: 'object',
      properties: {
        charges: { type: 'array', maxItems: 20000, items: { type: 'integer', minimum: 0 } },
        grants: {
          type: 'array',
          maxItems: 1000,
          items: { type: 'object', required: ['at', 'units'], properties: { at: { type: 'integer', minimum: 0 }, units: { type: 'integer', minimum: 1 }, approval: str({ maxLength: 253 }) } },
        },
      },
    },
  },
};

export interface CrdDef {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Cluster' | 'Namespaced';
  schema: Schema;
  /** Whether status is a subresource (default true); BudgetUsage is written whole by the proxy in one update. */
  statusSubresource?: boolean;
  printerColumns: { name: string; type: string; jsonPath: string; description?: string; priority?: number }[];
}

export const CRDS: CrdDef[] = [
  {
    kind: 'AgentPolicy',
    plural: 'agentpolicies',
    singular: 'agentpolicy',
    shortNames: ['ap', 'agentpol'],
    scope: 'Cluster',
    schema: agentPolicySchema,
    printerColumns: [
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
      { name: 'Default', type: 'string', jsonPath: '.spec.defaultAction' },
      { name: 'Rules', type: 'integer', jsonPath: '.status.rules' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Message', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].message', priority: 1 },
    ],
  },
  {
    kind: 'Approval',
    plural: 'approvals',
    singular: 'approval',
    shortNames: ['apr'],
    scope: 'Cluster',
    schema: approvalSchema,
    printerColumns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Requester', type: 'string', jsonPath: '.spec.request.user' },
      { name: 'Verb', type: 'string', jsonPath: '.spec.request.verb' },
      { name: 'Resource', type: 'string', jsonPath: '.spec.request.resource' },
      { name: 'Namespace', type: 'string', jsonPath: '.spec.request.namespace' },
      { name: 'Name', type: 'string', jsonPath: '.spec.request.name' },
      { name: 'Policy', type: 'string', jsonPath: '.spec.policy.name' },
      { name: 'Expires', type: 'string', jsonPath: '.spec.expiresAt', description: 'When the Approval expires (RFC 3339)' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Summary', type: 'string', jsonPath: '.spec.request.summary', priority: 1 },
    ],
  },
  {
    kind: 'BudgetUsage',
    plural: 'budgetusages',
    singular: 'budgetusage',
    shortNames: ['bu'],
    scope: 'Namespaced',
    schema: budgetUsageSchema,
    statusSubresource: false,
    printerColumns: [
      { name: 'Agent', type: 'string', jsonPath: '.spec.agent' },
      { name: 'Policy', type: 'string', jsonPath: '.spec.policy' },
      { name: 'Budget', type: 'string', jsonPath: '.spec.budget' },
      { name: 'Scope', type: 'string', jsonPath: '.spec.scope' },
      { name: 'Limit', type: 'integer', jsonPath: '.spec.limit' },
      { name: 'Window', type: 'string', jsonPath: '.spec.window' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  },
];

/** Builds the CustomResourceDefinition object for one CRD definition. */
export function crdManifest(def: CrdDef): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'airlock', 'app.kubernetes.io/part-of': 'airlock' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: ['airlock'],
      },
      scope: def.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          ...(def.statusSubresource === false ? {} : { subresources: { status: {} } }),
          additionalPrinterColumns: def.printerColumns,
          schema: { openAPIV3Schema: def.schema },
        },
      ],
    },
  };
}
