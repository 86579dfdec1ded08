// The root app: Argo CD evaluates this file (a directory source with Jsonnet) and applies what it
// returns: one AppProject per stack and one Application per component of components.json.
//
// Top-level arguments (spec.source.directory.jsonnet.tlas):
//   env      'prod' (the Talos cluster) or 'dev' (the kind cluster)
//   repoURL  this repository
//   revision the branch, tag or commit to follow
//   include  dev only: comma-separated components to keep despite their dev.exclude (`deno task dev`
//            passes `piraeus` when the host has DRBD 9)
local components = import 'components.json';

local STACKS = ['system', 'platform', 'apps'];
local ARGOCD = 'argocd';

local project(stack) = {
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'AppProject',
  metadata: {
    name: stack,
    namespace: ARGOCD,
    annotations: { 'argocd.argoproj.io/sync-wave': '-100' },
  },
  spec: {
    description: 'The %s stack' % stack,
    sourceRepos: ['*'],
    destinations: [{ server: 'https://kubernetes.default.svc', namespace: '*' }],
    clusterResourceWhitelist: [{ group: '*', kind: '*' }],
  },
};

local application(stack, c, env, repoURL, revision) =
  local dev = std.get(c, 'dev', {});
  local path = if env == 'dev' && std.objectHas(dev, 'path') then dev.path else '%s/%s' % [stack, c.name];
  {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: {
      name: c.name,
      namespace: ARGOCD,
      annotations: { 'argocd.argoproj.io/sync-wave': std.toString(c.wave) },
      finalizers: ['resources-finalizer.argocd.argoproj.io'],
    },
    spec: {
      project: stack,
      source: { repoURL: repoURL, targetRevision: revision, path: path },
      destination: { server: 'https://kubernetes.default.svc', namespace: c.namespace },
      syncPolicy: {
        automated: { prune: true, selfHeal: true },
        retry: { limit: 10, backoff: { duration: '10s', factor: 2, maxDuration: '5m' } },
        syncOptions: ['CreateNamespace=false', 'PruneLast=true']
                     + (if std.get(c, 'serverSideApply', false) then ['ServerSideApply=true'] else []),
      },
      [if std.objectHas(c, 'ignoreDifferences') then 'ignoreDifferences']: c.ignoreDifferences,
    },
  };

function(env='prod', repoURL='https://github.com/homelab/homelab.git', revision='main', include='')
  assert env == 'prod' || env == 'dev' : "env must be 'prod' or 'dev', not '%s'" % env;
  local included = std.split(include, ',');
  [project(stack) for stack in STACKS]
  + [
    application(stack, c, env, repoURL, revision)
    for stack in STACKS
    for c in components[stack]
    if !(env == 'dev' && std.objectHas(std.get(c, 'dev', {}), 'exclude') && !std.member(included, c.name))
  ]
