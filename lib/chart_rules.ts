/**
 * What the tree learned from rendering its charts for real: values that make a chart render
 * something Argo CD cannot keep in sync, or that break in a `restricted` namespace. Each rule
 * reads a component's values for one chart and says what is wrong, without the chart itself.
 *
 * @module
 */

/** Chart values as parsed from a values file (and `valuesInline`). */
export type Values = Record<string, unknown>;

/** One rule for one chart: a message when the values are wrong, else nothing. */
export interface ChartRule {
  readonly chart: string;
  readonly check: (values: Values) => string | undefined;
}

/** The value at a dotted path (`a.b.c`), or undefined. */
export function valueAt(values: unknown, path: string): unknown {
  let v: unknown = values;
  for (const key of path.split(".")) {
    if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** What a container securityContext lacks for Pod Security `restricted` (empty when nothing). */
export function restrictedGaps(pod: unknown, container: unknown): string[] {
  const at = (p: string) => valueAt(container, p) ?? valueAt(pod, p);
  const gaps: string[] = [];
  const drop = valueAt(container, "capabilities.drop");
  if (!Array.isArray(drop) || !drop.includes("ALL")) gaps.push("capabilities.drop [ALL]");
  if (at("runAsNonRoot") !== true) gaps.push("runAsNonRoot: true");
  if (valueAt(container, "allowPrivilegeEscalation") !== false) gaps.push("allowPrivilegeEscalation: false");
  if (!["RuntimeDefault", "Localhost"].includes(String(at("seccompProfile.type")))) {
    gaps.push("seccompProfile.type: RuntimeDefault");
  }
  return gaps;
}

/** The path of a `--hostname=URL` argument ('/' when it has none), or undefined without one. */
function hostnamePath(values: Values): string | undefined {
  const args = [valueAt(values, "command"), valueAt(values, "args")].flatMap((a) => Array.isArray(a) ? a : []);
  for (const a of args) {
    const m = /^--hostname=(.+)$/.exec(String(a));
    if (!m) continue;
    try {
      return new URL(m[1]).pathname.replace(/\/+$/, "") || "/";
    } catch {
      return "/";
    }
  }
  return undefined;
}

const CHART_RULES: readonly ChartRule[] = [
  {
    chart: "cilium",
    check: (v) =>
      valueAt(v, "gatewayAPI.enabled") === true && valueAt(v, "gatewayAPI.gatewayClass.create") !== "true"
        ? `gatewayAPI.gatewayClass.create must be "true": by default ("auto") Cilium renders its GatewayClass only when it sees the API in the cluster, which a repo-server render never does, so nothing creates the class Gateways name`
        : undefined,
  },
  {
    chart: "cilium",
    check: (v) => {
      if (valueAt(v, "hubble.enabled") === false || valueAt(v, "hubble.tls.enabled") === false) return undefined;
      if (valueAt(v, "hubble.tls.auto.enabled") === false) return undefined;
      const method = valueAt(v, "hubble.tls.auto.method") ?? "helm";
      return ["cronJob", "certmanager"].includes(String(method))
        ? undefined
        : `hubble.tls.auto.method is '${method}': Helm makes a new CA and certificates on every render (Argo CD would re-sync and re-issue them forever); use cronJob or certmanager`;
    },
  },
  {
    chart: "piraeus",
    check: (v) =>
      valueAt(v, "tls.certManagerIssuerRef.name") || valueAt(v, "tls.certificateSecret")
        ? undefined
        : "tls.certManagerIssuerRef is not set: the chart then generates the webhook certificate and caBundle at render time, different on every render; name a cert-manager issuer",
  },
  {
    chart: "kube-prometheus-stack",
    check: (v) => {
      if (valueAt(v, "grafana.enabled") === false || valueAt(v, "grafana.persistence.enabled") !== true) {
        return undefined;
      }
      const wrong: string[] = [];
      if (valueAt(v, "grafana.initChownData.enabled") !== false) {
        wrong.push(
          "grafana.initChownData.enabled must be false (its init container runs as root with CHOWN, which restricted Pod Security rejects)",
        );
      }
      if (valueAt(v, "grafana.deploymentStrategy.type") !== "Recreate") {
        wrong.push(
          "grafana.deploymentStrategy.type must be Recreate (a rolling update's new pod can never mount the ReadWriteOnce volume)",
        );
      }
      return wrong.length ? `Grafana with persistence: ${wrong.join("; ")}` : undefined;
    },
  },
  {
    chart: "kube-prometheus-stack",
    check: (v) => {
      const missing = ["kubeEtcd", "kubeControllerManager", "kubeScheduler"].filter((c) =>
        valueAt(v, `${c}.enabled`) !== false && !(Array.isArray(valueAt(v, `${c}.endpoints`)) &&
          (valueAt(v, `${c}.endpoints`) as unknown[]).length)
      );
      return missing.length
        ? `${
          missing.join(", ")
        }: on Talos these are no pods the chart's selectors can find (etcd is a host service); list the control planes' addresses as endpoints, or disable them`
        : undefined;
    },
  },
  {
    chart: "cert-manager",
    check: (v) =>
      valueAt(v, "config.enableGatewayAPI") !== undefined
        ? "config.enableGatewayAPI is deprecated (cert-manager 1.21): use config.gatewayAPI.enabled"
        : undefined,
  },
  {
    chart: "keycloakx",
    check: (v) => {
      const path = hostnamePath(v);
      if (path === undefined) return undefined;
      const relative = String(valueAt(v, "http.relativePath") ?? "/auth").replace(/\/+$/, "") || "/";
      return relative === path
        ? undefined
        : `http.relativePath is '${relative}' but --hostname has the path '${path}': every link Keycloak builds would miss where it serves`;
    },
  },
  {
    chart: "crossplane",
    check: (v) => {
      const gaps = [
        ["securityContextCrossplane", "podSecurityContextCrossplane"],
        ["securityContextRBACManager", "podSecurityContextRBACManager"],
      ].flatMap(([c, p]) => {
        const g = restrictedGaps(valueAt(v, p), valueAt(v, c));
        return g.length ? [`${c} lacks ${g.join(", ")}`] : [];
      });
      return gaps.length ? `restricted Pod Security: ${gaps.join("; ")}` : undefined;
    },
  },
];

/** The problems of one chart's values. */
export function checkChartValues(chart: string, values: Values): string[] {
  return CHART_RULES.filter((r) => r.chart === chart).flatMap((r) => r.check(values) ?? []);
}
