// The root Application, which bootstrap (and `deno task dev`) applies once; from then on Argo CD
// keeps everything else, itself included, in step with the repository.
//   jsonnet --tla-str env=prod --tla-str repoURL=… --tla-str revision=main root/root.jsonnet
function(env='prod', repoURL='https://github.com/homelab/homelab.git', revision='main', include='')
  {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'root', namespace: 'argocd' },
    spec: {
      project: 'default',
      source: {
        repoURL: repoURL,
        targetRevision: revision,
        path: 'root',
        directory: {
          include: 'main.jsonnet',
          jsonnet: {
            tlas: [
              { name: 'env', value: env },
              { name: 'repoURL', value: repoURL },
              { name: 'revision', value: revision },
            ] + (if include != '' then [{ name: 'include', value: include }] else []),
          },
        },
      },
      destination: { server: 'https://kubernetes.default.svc', namespace: 'argocd' },
      syncPolicy: { automated: { prune: true, selfHeal: true } },
    },
  }
