/**
 * The manifest of external tools: each with its pinned version, how to check the version of a
 * binary, and how to build it from Go modules where Nix is absent.
 *
 * These pins are the only tool versions in the repository: `flake.nix` provides the same tools
 * (a test checks that every entry appears there), and Renovate keeps both current.
 *
 * @module
 */

/**
 * What a tool is needed for: one purpose per existing task (or mode of one) that runs tools, so
 * `doctor` checks only what the tasks of this checkout need. A new task adds its purpose here
 * (and to the `neededFor` of the tools it runs); `doctor --for` offers every key.
 */
export const PURPOSES = {
  secrets: { task: "deno task secrets", ageKey: true, containers: false },
  talos: { task: "deno task talos", ageKey: true, containers: false },
  check: { task: "deno task render, check, diff", ageKey: false, containers: false },
  server: { task: "deno task check --server", ageKey: false, containers: false },
  test: { task: "deno task test", ageKey: false, containers: false },
  bootstrap: { task: "deno task bootstrap", ageKey: true, containers: false },
  dev: { task: "deno task dev", ageKey: false, containers: true },
  rehearse: { task: "deno task rehearse", ageKey: false, containers: false },
} as const satisfies Record<string, { task: string; ageKey: boolean; containers: boolean }>;

export type Purpose = keyof typeof PURPOSES;

/** What `doctor` checks when no `--for` is given: what the README's first steps use. */
export const DEFAULT_PURPOSES: readonly Purpose[] = ["secrets", "check", "test"];

/** One Go package to build and the executable it becomes. */
export interface GoPackage {
  /** Import path of the main package (or `.` for the module's own main). */
  readonly pkg: string;
  /** The executable's name in the cache. */
  readonly binary: string;
}

/** What every Go build names: its main packages, linker flags and build tags. */
interface GoBuild {
  /** A repository module builds them in one `go build` (they share their compilation). */
  readonly packages: readonly GoPackage[];
  /** `{minor:MODULE}` in a flag is the minor of the version of MODULE the build selects (v0.34.2 → 34). */
  readonly ldflags?: readonly string[];
  readonly tags?: readonly string[];
}

/**
 * Build inside a generated module that requires `module@version` (the same version selection
 * as `go install pkg@version`, which this module proxy cannot serve: it refuses version lists).
 */
export interface ModuleBuild extends GoBuild {
  readonly kind: "module";
  readonly module: string;
}

/** A tool that cannot be built here; `why` says why and what to do instead. */
export interface Unavailable {
  readonly kind: "unavailable";
  readonly why: string;
}

/**
 * Build a Go module committed to this repository (`tools/go/NAME`: go.mod, go.sum, `tool`
 * directives or a main.go). Used where a generated module cannot work: the upstream module
 * replaces its own dependencies (k8s.io/kubernetes, etcd), or the program is ours (Pod Security,
 * kubectl's main over k8s.io/kubectl).
 * Its go.sum pins every dependency, so the build runs with `-mod=readonly`.
 */
export interface RepoModuleBuild extends GoBuild {
  readonly kind: "repo-module";
  /** The module's directory, relative to the repository root. */
  readonly dir: string;
  /**
   * Data that ships inside a dependency module, copied beside the binaries: a directory, or a
   * file (made executable: a helper script the binary runs from PATH).
   */
  readonly data?: RepoData | readonly RepoData[];
}

/** A directory or file of a dependency module (`from`, in the module) and where it goes beside the binaries. */
export interface RepoData {
  readonly module: string;
  readonly from: string;
  readonly to: string;
}

export type Build = ModuleBuild | RepoModuleBuild | Unavailable;

/** One external tool. */
export interface ToolSpec {
  /** The manifest name (also the main executable's name). */
  readonly name: string;
  /** The pinned version, without a leading `v`. */
  readonly version: string;
  /** What the tool is used for, in a few words. */
  readonly role: string;
  /** Arguments that make the tool print its version. */
  readonly versionArgs: readonly string[];
  /** `go-buildinfo`: the tool has no version flag; read the module version with `go version -m`. */
  readonly versionBy?: "go-buildinfo";
  /** Environment for the version command. */
  readonly versionEnv?: Readonly<Record<string, string>>;
  /** Captures the version (without `v`) from the version command's combined output. */
  readonly versionPattern: RegExp;
  /** Other executables the build provides, each checked with the same version command. */
  readonly extraBinaries?: readonly string[];
  readonly build: Build;
  /**
   * The nixpkgs attribute the flake provides it from; absent for this repository's own programs
   * (`deno task tools` builds them under Nix too: Go is in the dev shell).
   */
  readonly nix?: string;
  readonly neededFor: readonly Purpose[];
}

function kubeVersionFlags(version: string): string[] {
  const [major, minor] = version.split(".");
  return ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=v${version}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    // Fixed, so a rebuild from the same sources links the same binary (and hits Go's cache).
    `-X ${pkg}.buildDate=1970-01-01T00:00:00Z`,
    `-X ${pkg}.gitTreeState=clean`,
  ]);
}

/**
 * Argo CD's version variables (`github.com/argoproj/argo-cd/v3/common`), as its Makefile sets
 * them. The release commit is not known from the module, so the version prints as
 * `v3.6.1+unknown`; kubectlVersion is the k8s.io/kubectl that release's go.mod replaces to.
 */
function argocdVersionFlags(version: string, kubectl: string): string[] {
  const pkg = "github.com/argoproj/argo-cd/v3/common";
  return [
    `-X ${pkg}.version=${version}`,
    `-X ${pkg}.buildDate=1970-01-01T00:00:00Z`,
    `-X ${pkg}.gitTreeState=clean`,
    `-X ${pkg}.kubectlVersion=${kubectl}`,
  ];
}

/**
 * The k8s.io/kubectl the pinned Argo CD release builds with (its go.mod's replace; tests/pins_test.ts).
 * Renovate sees it but never moves it alone (renovate.json): it changes with the Argo CD pin.
 */
// renovate: datasource=go depName=k8s.io/kubectl
export const ARGOCD_KUBECTL = "v0.37.0";

/**
 * The `go` line of the modules lib/install.ts generates to build tools: the least Go they build
 * with. A tool whose module requires a newer one gets it through the module proxy
 * (`GOTOOLCHAIN=auto`); the committed modules under tools/go carry their own `go` lines.
 */
// renovate: datasource=golang-version depName=go
export const GO = "1.26.0";

/**
 * Every pin carries a `renovate: datasource=… depName=…` comment on the line above it: Renovate's
 * one annotation manager (renovate.json) reads them, and tests/renovate_test.ts fails for a pin
 * without one.
 *
 * helm and kustomize are the versions the pinned Argo CD release bundles (its
 * `hack/tool-versions.sh`), so render builds exactly what the cluster builds; they move with the
 * argo-cd chart only (lib/render/argocd.ts holds the table and a test ties the three together).
 */
const V = {
  // renovate: datasource=go depName=github.com/getsops/sops/v3
  sops: "3.13.3",
  // renovate: datasource=go depName=filippo.io/age
  age: "1.3.2",
  // renovate: datasource=go depName=github.com/budimanjojo/talhelper/v3
  talhelper: "3.1.17",
  // renovate: datasource=github-releases depName=siderolabs/talos
  talosctl: "1.14.0",
  // renovate: datasource=go depName=helm.sh/helm/v3
  helm: "3.19.4",
  // renovate: datasource=go depName=sigs.k8s.io/kustomize/kustomize/v5
  kustomize: "5.8.1",
  // renovate: datasource=github-releases depName=viaduct-ai/kustomize-sops
  ksops: "4.5.1",
  // renovate: datasource=go depName=github.com/google/go-jsonnet
  jsonnet: "0.22.0",
  // renovate: datasource=go depName=github.com/rhysd/actionlint
  actionlint: "1.7.12",
  // renovate: datasource=go depName=sigs.k8s.io/kind
  kind: "0.33.0",
  // renovate: datasource=github-releases depName=kubernetes/kubernetes
  kubectl: "1.37.2",
  /** The local control plane: the Kubernetes of talos/talconfig.yaml (a test keeps them equal). */
  // renovate: datasource=github-releases depName=kubernetes/kubernetes
  kubernetes: "1.37.2",
  /** The etcd that Kubernetes release pins (its build/dependencies.yaml and go.mod). */
  // renovate: datasource=go depName=go.etcd.io/etcd/server/v3
  etcd: "3.7.0",
  // renovate: datasource=go depName=sigs.k8s.io/kwok
  kwok: "0.8.0",
  /** Pod Security checks: k8s.io/pod-security-admission of the pinned Kubernetes (v0.N.M for 1.N.M). */
  // renovate: datasource=github-releases depName=kubernetes/kubernetes
  psa: "1.37.2",
  /**
   * Argo CD for the rehearsal. The cluster's release (lib/render/argocd.ts) cannot be built from
   * the Go module proxy (its go.mod names its nested gitops-engine at a version the proxy does
   * not serve); this is the nearest release that can be (see the README's tools section).
   */
  // renovate: datasource=go depName=github.com/argoproj/argo-cd/v3
  argocd: "3.6.1",
  /** The Redis of the rehearsal's Argo CD: the miniredis version that Argo CD release requires. */
  // renovate: datasource=go depName=github.com/alicebob/miniredis/v2
  miniredis: "2.39.0",
} as const;

/** The pinned versions, by tool (for tests that compare them with other pins). */
export const PINS: Readonly<Record<keyof typeof V, string>> = V;

/** Every external tool, in the order `deno task tools` builds them. */
export const TOOLS: readonly ToolSpec[] = [
  {
    name: "sops",
    version: V.sops,
    role: "encrypts and decrypts secrets",
    versionArgs: ["--version", "--disable-version-check"],
    versionEnv: { SOPS_DISABLE_VERSION_CHECK: "1" },
    versionPattern: /^sops (\d+\.\d+\.\d+)/m,
    build: {
      kind: "module",
      module: `github.com/getsops/sops/v3@v${V.sops}`,
      packages: [{ pkg: "github.com/getsops/sops/v3/cmd/sops", binary: "sops" }],
    },
    nix: "sops",
    neededFor: ["secrets", "talos", "check", "test", "bootstrap", "dev"],
  },
  {
    name: "age",
    version: V.age,
    role: "the encryption behind sops; age-keygen makes keys",
    versionArgs: ["--version"],
    versionPattern: /^v?(\d+\.\d+\.\d+)/m,
    extraBinaries: ["age-keygen"],
    build: {
      kind: "module",
      module: `filippo.io/age@v${V.age}`,
      packages: [
        { pkg: "filippo.io/age/cmd/age", binary: "age" },
        { pkg: "filippo.io/age/cmd/age-keygen", binary: "age-keygen" },
      ],
    },
    nix: "age",
    neededFor: ["secrets", "talos", "check", "test", "bootstrap", "dev"],
  },
  {
    name: "talhelper",
    version: V.talhelper,
    role: "generates Talos machine configs from talconfig.yaml",
    versionArgs: ["--version"],
    versionPattern: /talhelper version v?(\d+\.\d+\.\d+)/,
    build: {
      kind: "module",
      module: `github.com/budimanjojo/talhelper/v3@v${V.talhelper}`,
      packages: [{ pkg: "github.com/budimanjojo/talhelper/v3", binary: "talhelper" }],
      ldflags: [`-X github.com/budimanjojo/talhelper/v3/cmd.version=${V.talhelper}`],
    },
    nix: "talhelper",
    neededFor: ["secrets", "talos", "test", "bootstrap", "check"],
  },
  {
    name: "talosctl",
    version: V.talosctl,
    role: "talks to Talos nodes",
    versionArgs: ["version", "--client", "--short"],
    versionPattern: /Talos v(\d+\.\d+\.\d+)/,
    build: {
      kind: "unavailable",
      // Its go.mod replaces modules (so `go install` refuses it) and a source build needs
      // github.com/cosi-project/runtime@v1.16.3, github.com/siderolabs/ethtool@v0.6.0-sidero and a
      // pseudo-version of github.com/jsimonetti/rtnetlink/v2, which this Go module proxy refuses.
      why: "its dependencies are not all served by the Go module proxy; get talosctl from " +
        "`nix develop` or the Talos release for your platform",
    },
    nix: "talosctl",
    neededFor: ["talos", "bootstrap"],
  },
  {
    name: "helm",
    version: V.helm,
    role: "renders Helm charts (through kustomize)",
    versionArgs: ["version", "--template", "{{.Version}}"],
    versionPattern: /^v(\d+\.\d+\.\d+)/m,
    build: {
      kind: "module",
      module: `helm.sh/helm/v3@v${V.helm}`,
      packages: [{ pkg: "helm.sh/helm/v3/cmd/helm", binary: "helm" }],
      ldflags: [
        `-X helm.sh/helm/v3/internal/version.version=v${V.helm}`,
        // As helm's own Makefile does: the default Kubernetes version of `helm template` is that of
        // its k8s.io modules, not the v1.20 fallback. The minor is read from the module graph at
        // build time (k8s.io/client-go v0.N.M → N), so it moves with the helm pin.
        "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1",
        "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={minor:k8s.io/client-go}",
      ],
    },
    nix: "kubernetes-helm",
    neededFor: ["check", "test", "bootstrap", "dev"],
  },
  {
    name: "kustomize",
    version: V.kustomize,
    role: "builds every component as Argo CD does",
    versionArgs: ["version"],
    versionPattern: /^v(\d+\.\d+\.\d+)/m,
    build: {
      kind: "module",
      module: `sigs.k8s.io/kustomize/kustomize/v5@v${V.kustomize}`,
      packages: [{ pkg: "sigs.k8s.io/kustomize/kustomize/v5", binary: "kustomize" }],
    },
    nix: "kustomize",
    neededFor: ["check", "test", "bootstrap", "dev"],
  },
  {
    name: "ksops",
    version: V.ksops,
    role: "the kustomize plugin that decrypts SOPS secrets",
    // ksops has no version flag (`ksops --version` reads a file named --version).
    versionArgs: [],
    versionBy: "go-buildinfo",
    versionPattern: /\tmod\tgithub\.com\/viaduct-ai\/kustomize-sops\tv?(\d+\.\d+\.\d+)/,
    build: {
      kind: "unavailable",
      why: "the Go module proxy serves no version of github.com/viaduct-ai/kustomize-sops " +
        "(its v4 tags have no /v4 module path); get ksops from `nix develop` (kustomize-sops) " +
        "or the viaductoss/ksops image",
    },
    nix: "kustomize-sops",
    neededFor: [],
  },
  {
    name: "jsonnet",
    version: V.jsonnet,
    role: "evaluates the root app (go-jsonnet, as Argo CD uses)",
    versionArgs: ["--version"],
    versionPattern: /\(Go implementation\) v(\d+\.\d+\.\d+)/,
    build: {
      kind: "module",
      module: `github.com/google/go-jsonnet@v${V.jsonnet}`,
      packages: [{ pkg: "github.com/google/go-jsonnet/cmd/jsonnet", binary: "jsonnet" }],
    },
    nix: "go-jsonnet",
    neededFor: ["check", "test", "bootstrap", "dev"],
  },
  {
    name: "actionlint",
    version: V.actionlint,
    role: "checks the GitHub workflows (with shellcheck when it is on PATH)",
    versionArgs: ["-version"],
    versionPattern: /^v(\d+\.\d+\.\d+)/m,
    build: {
      kind: "module",
      module: `github.com/rhysd/actionlint@v${V.actionlint}`,
      packages: [{ pkg: "github.com/rhysd/actionlint/cmd/actionlint", binary: "actionlint" }],
      // Built inside a generated module, the binary cannot read its own version from the build info.
      ldflags: [`-X github.com/rhysd/actionlint.version=v${V.actionlint}`],
    },
    nix: "actionlint",
    neededFor: ["test"],
  },
  {
    name: "kind",
    version: V.kind,
    role: "runs the dev cluster in containers",
    versionArgs: ["version"],
    versionPattern: /^kind v(\d+\.\d+\.\d+)/m,
    build: {
      kind: "module",
      module: `sigs.k8s.io/kind@v${V.kind}`,
      packages: [{ pkg: "sigs.k8s.io/kind", binary: "kind" }],
    },
    nix: "kind",
    neededFor: ["test", "dev"],
  },
  {
    name: "kubectl",
    version: V.kubectl,
    role: "talks to the Kubernetes API",
    versionArgs: ["version", "--client"],
    versionPattern: /Client Version: v(\d+\.\d+\.\d+)/,
    build: {
      // kubectl's own main over k8s.io/kubectl of the pinned release (which has no main package).
      kind: "repo-module",
      dir: "tools/go/kubectl",
      packages: [{ pkg: ".", binary: "kubectl" }],
      ldflags: kubeVersionFlags(V.kubectl),
    },
    nix: "kubectl",
    neededFor: ["talos", "test", "bootstrap", "dev"],
  },
  {
    name: "kube-apiserver",
    version: V.kubernetes,
    role:
      "the local control plane's API server (`check --server`, the schemas and API versions of render and check, tests)",
    versionArgs: ["--version"],
    versionPattern: /^Kubernetes v(\d+\.\d+\.\d+)/m,
    extraBinaries: ["kube-controller-manager", "kube-scheduler"],
    build: {
      kind: "repo-module",
      dir: "tools/go/kubernetes",
      packages: ["kube-apiserver", "kube-controller-manager", "kube-scheduler"].map((b) => ({
        pkg: `k8s.io/kubernetes/cmd/${b}`,
        binary: b,
      })),
      tags: ["selinux", "notest", "grpcnotrace"],
      ldflags: ["-s", "-w", ...kubeVersionFlags(V.kubernetes)],
    },
    nix: "kubernetes",
    neededFor: ["server", "test", "bootstrap", "check"],
  },
  {
    name: "etcd",
    version: V.etcd,
    role: "the local control plane's store",
    versionArgs: ["--version"],
    versionPattern: /^etcd Version: (\d+\.\d+\.\d+)/m,
    build: {
      kind: "repo-module",
      dir: "tools/go/etcd",
      packages: [{ pkg: "go.etcd.io/etcd/server/v3", binary: "etcd" }],
      ldflags: ["-s", "-w"],
    },
    nix: "etcd",
    neededFor: ["server", "test", "bootstrap", "check"],
  },
  {
    name: "kwok",
    version: V.kwok,
    role: "simulated nodes for the local control plane: pods run and become Ready",
    versionArgs: ["--version"],
    versionPattern: /^kwok version v(\d+\.\d+\.\d+)/m,
    build: {
      kind: "repo-module",
      dir: "tools/go/kwok",
      packages: [{ pkg: "sigs.k8s.io/kwok/cmd/kwok", binary: "kwok" }],
      ldflags: ["-s", "-w"],
      // kwok does nothing without Stage definitions; these are the ones its module ships.
      data: { module: "sigs.k8s.io/kwok", from: "kustomize/stage", to: "stages" },
    },
    nix: "kwok",
    neededFor: ["server", "test"],
  },
  {
    name: "psa",
    version: V.psa,
    role: "evaluates pod templates with the upstream Pod Security policy code (`deno task check`)",
    versionArgs: ["--version"],
    versionPattern: /^psa v?(\d+\.\d+\.\d+)/m,
    build: {
      kind: "repo-module",
      dir: "tools/go/psa",
      packages: [{ pkg: ".", binary: "psa" }],
      ldflags: ["-s", "-w", `-X main.version=${V.psa}`],
    },
    neededFor: ["check", "test", "bootstrap"],
  },
  {
    name: "argocd",
    version: V.argocd,
    role: "Argo CD's repo-server and application-controller (one multi-call binary) for the rehearsal",
    // The binary named `argocd` is the CLI; ARGOCD_BINARY_NAME picks a server (argocd-repo-server, …).
    versionArgs: ["version", "--client", "--short"],
    versionPattern: /^argocd: v(\d+\.\d+\.\d+)/m,
    build: {
      kind: "repo-module",
      dir: "tools/go/argocd",
      packages: [{ pkg: "github.com/argoproj/argo-cd/v3/cmd", binary: "argocd" }],
      ldflags: ["-s", "-w", ...argocdVersionFlags(V.argocd, ARGOCD_KUBECTL)],
      // Its own CRDs (Application, AppProject, ApplicationSet), for a control plane that has no
      // rendered Argo CD installation.
      data: [
        { module: "github.com/argoproj/argo-cd/v3", from: "manifests/crds", to: "crds" },
        // The repo-server runs it from PATH for every revision it reads (Argo CD's image has it in /usr/local/bin).
        {
          module: "github.com/argoproj/argo-cd/v3",
          from: "hack/git-verify-wrapper.sh",
          to: "bin/git-verify-wrapper.sh",
        },
      ],
    },
    nix: "argocd",
    neededFor: ["rehearse", "test"],
  },
  {
    name: "miniredis",
    version: V.miniredis,
    role: "the Redis of the rehearsal's Argo CD (in memory, on 127.0.0.1)",
    versionArgs: ["--version"],
    versionPattern: /^miniredis v(\d+\.\d+\.\d+)/m,
    build: {
      kind: "repo-module",
      dir: "tools/go/miniredis",
      packages: [{ pkg: ".", binary: "miniredis" }],
      ldflags: ["-s", "-w", `-X main.version=${V.miniredis}`],
    },
    neededFor: ["rehearse", "test"],
  },
];

/** The manifest entry called `name`. */
export function toolSpec(name: string): ToolSpec | undefined {
  return TOOLS.find((t) => t.name === name);
}

/** Every executable a tool provides: its own and its extra ones. */
export function binariesOf(spec: ToolSpec): string[] {
  return [spec.name, ...(spec.extraBinaries ?? [])];
}

/** The version in a version command's output, or undefined when it does not match. */
export function parseVersion(spec: ToolSpec, output: string): string | undefined {
  return spec.versionPattern.exec(output)?.[1];
}
