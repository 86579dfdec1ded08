/**
 * Renovate sees every pin: each carries a `renovate: datasource=… depName=…` comment on the line
 * above it, read by one annotation manager in renovate.json. These tests apply that manager's own
 * patterns (as Renovate's `--dry-run=extract` does) to the repository's files.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { readRuntimeCrdSources } from "../lib/check/runtimecrds.ts";
import { KUBERNETES_SUPPORT } from "../lib/talos/talconfig.ts";
import { ARGOCD_KUBECTL, GO, PINS, TOOLS } from "../lib/tools.ts";
import { git, REPO } from "./helpers.ts";

interface Manager {
  description?: string;
  managerFilePatterns: string[];
  matchStrings: string[];
}

const renovate = JSON.parse(await Deno.readTextFile(join(REPO, "renovate.json")));
const managers = renovate.customManagers as Manager[];
const annotations = managers.filter((m) => m.matchStrings.some((s) => s.startsWith("renovate: datasource=")));
const tracked = git(REPO, "ls-files").split("\n").filter(Boolean);
const covered = (m: Manager, file: string) => m.managerFilePatterns.some((p) => new RegExp(p.slice(1, -1)).test(file));

interface Pin {
  /** 1-based line of the pinned value. */
  line: number;
  depName?: string;
  datasource?: string;
  value?: string;
  digest?: string;
}

/** What the managers of renovate.json extract from `file`. */
async function pins(file: string, from: readonly Manager[] = managers): Promise<Pin[]> {
  const text = await Deno.readTextFile(join(REPO, file));
  const out: Pin[] = [];
  for (const m of from.filter((m) => covered(m, file))) {
    for (const s of m.matchStrings) {
      for (const hit of text.matchAll(new RegExp(s, "g"))) {
        const g = hit.groups ?? {};
        const at = hit.index! + hit[0].length;
        out.push({
          line: text.slice(0, at).split("\n").length,
          depName: g.depName,
          datasource: g.datasource,
          value: g.currentValue,
          digest: g.currentDigest,
        });
      }
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

Deno.test("one annotation manager, and one for the plain .deno-version file", () => {
  assert.equal(annotations.length, 1, "renovate.json has more than one annotation manager");
  assert.deepEqual(managers.filter((m) => !annotations.includes(m)).map((m) => m.managerFilePatterns), [[
    "/^\\.deno-version$/",
  ]]);
});

Deno.test("every pin of lib/tools.ts carries an annotation that Renovate reads", async () => {
  const text = await Deno.readTextFile(join(REPO, "lib/tools.ts"));
  const start = text.indexOf("const V = {");
  assert.ok(start >= 0, "lib/tools.ts has no `const V = {` block of pins");
  const startLine = text.slice(0, start).split("\n").length;
  const block = text.slice(start, text.indexOf("} as const;", start)).split("\n");
  const entries = block.map((l, i) => ({ line: startLine + i, m: /^ {2}(\w+): "([^"]+)",$/.exec(l) }))
    .filter((e) => e.m);
  assert.ok(entries.length >= TOOLS.length - 1, "the pins block has fewer entries than the manifest");
  const found = await pins("lib/tools.ts");
  for (const { line, m } of entries) {
    const pin = found.find((p) => p.line === line);
    assert.ok(
      pin,
      `lib/tools.ts:${line}: the pin ${m![1]} ${m![2]} has no \`// renovate: datasource=… depName=…\` comment ` +
        "on the line above it, so Renovate never updates it",
    );
    assert.equal(pin.value, m![2], `lib/tools.ts:${line}: Renovate reads ${pin.value}, not ${m![2]}`);
  }
  for (const t of TOOLS) assert.ok(found.some((p) => p.value === t.version), `no annotation reads ${t.name}`);
});

Deno.test("every annotation in the repository is in a file the manager reads, and matches a pin", async () => {
  for (const file of tracked) {
    // Tests (and unit tests beside the code) hold annotations in fixtures of their own.
    if (file === "renovate.json" || file.startsWith("tests/") || file.endsWith("_test.ts")) continue;
    let text: string;
    try {
      text = await Deno.readTextFile(join(REPO, file));
    } catch {
      continue;
    }
    const count = text.match(/renovate: datasource=[\w-]+ depName=/g)?.length ?? 0;
    if (!count) continue;
    assert.ok(covered(annotations[0], file), `${file} has annotations, but renovate.json does not read it`);
    assert.equal((await pins(file, annotations)).length, count, `${file}: an annotation reads no pin below it`);
  }
});

Deno.test("the pins outside lib/tools.ts: Talos, Kubernetes, kind's node image, release URLs, Cilium's CRDs, the flake", async () => {
  const values = async (file: string) => (await pins(file)).map((p) => p.value);
  assert.deepEqual(await values("talos/talconfig.yaml"), ["v1.14.0", "v1.37.2"]);
  const node = await pins("dev/kind.yaml");
  assert.equal(node.length, 1);
  assert.match(`${node[0].depName}:${node[0].value}@${node[0].digest}`, /^kindest\/node:v\d+\.\d+\.\d+@sha256:/);
  assert.deepEqual(await values("system/gateway-api/kustomization.yaml"), ["1.6.1"]);
  assert.deepEqual(await values("platform/kubevirt/kustomization.yaml"), ["1.9.0"]);
  const cilium = await pins("schemas/runtime-crds.yaml");
  assert.deepEqual(cilium.map((p) => [p.depName, p.datasource]), [["cilium", "helm"]]);
  const nix = await pins("flake.nix");
  assert.equal(nix.length, 1);
  assert.match(nix[0].digest ?? "", /^[0-9a-f]{40}$/);
  assert.deepEqual(await values(".deno-version"), [(await Deno.readTextFile(join(REPO, ".deno-version"))).trim()]);
  // The nix manager needs a flake.lock, which this flake does not have.
  assert.equal(renovate.nix?.enabled, false);
  assert.ok(!tracked.includes("flake.lock"));
});

/**
 * The files whose versions Renovate must see: every line of them that names a version (X.Y.Z,
 * a 40-hex revision) outside a comment is a pin the annotation manager reads, one a package
 * manager of Renovate reads in its own format (NATIVE), or a version that is no pin (NOT_PINS).
 */
const WATCHED = tracked.filter((f) =>
  (/^lib\/.*\.ts$/.test(f) && !f.endsWith("_test.ts")) ||
  /^(flake\.nix|dev\/kind\.yaml|talos\/talconfig\.yaml|schemas\/.*|\.github\/workflows\/.*\.ya?ml)$/.test(f) ||
  /^rehearse\/[^/]+\.yaml$/.test(f) ||
  /(^|\/)(kustomization|values)\.yaml$/.test(f)
);

const NATIVE: { file: RegExp; line: RegExp; manager: string }[] = [
  { file: /(^|\/)kustomization\.yaml$/, line: /^ {4}version: v?\d+\.\d+\.\d+$/, manager: "kustomize (helmCharts)" },
  { file: /(^|\/)values\.yaml$/, line: /^\s+image: [\w./-]+:v?\d+\.\d+\.\d+$/, manager: "helm-values" },
  {
    file: /^\.github\/workflows\//,
    line: /^\s+(- )?uses: [\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/,
    manager: "github-actions (pinned by commit, the version in a comment)",
  },
  { file: /^\.github\/workflows\//, line: /^\s+go-version: "\d+\.\d+"$/, manager: "github-actions (setup-go's Go)" },
  { file: /^\.github\/workflows\//, line: /^\s+runs-on: ubuntu-\d+\.\d+$/, manager: "github-actions (the runner)" },
];

const NOT_PINS: { file: string; line: RegExp; why: string }[] = [
  {
    file: "schemas/runtime-crds.yaml",
    line: /^ {4}digestsFor: \d+\.\d+\.\d+$/,
    why: "the version the sha256s were taken from: `deno task charts crds` moves it after Renovate moved `version`",
  },
  {
    file: "lib/talos/talconfig.ts",
    line: /^ {2}"1\.\d+": \["1\.\d+\.0", "1\.\d+\.99"\],$/,
    why: "KUBERNETES_SUPPORT: a compatibility table of Talos releases (the test below ties it to the pins)",
  },
  {
    file: "lib/render/argocd.ts",
    line: /^ {2}\{ chart: "[\d.]+", argocd: "[\d.]+", helm: "[\d.]+", kustomize: "[\d.]+" \},$/,
    why: "ARGOCD_RELEASES: what each argo-cd chart bundles (lib/render/argocd_test.ts ties it to the chart pin)",
  },
  {
    file: "lib/render/bench.ts",
    line: /version: 0\.1\.0\\n/,
    why: "the chart of the benchmark's synthetic tree",
  },
  {
    file: "rehearse/argocd-health.yaml",
    line: /^version: v\d+\.\d+\.\d+$/,
    why: "the Argo CD release the list was taken from: it follows the argocd pin (the test below)",
  },
];

Deno.test("every version in the pinned files is a pin Renovate reads, or is said to be no pin", async () => {
  const version = /(?<![\w.])v?\d+\.\d+\.\d+(?!\.?\d)|\b[0-9a-f]{40}\b/;
  const problems: string[] = [];
  for (const file of WATCHED) {
    const lines = (await Deno.readTextFile(join(REPO, file))).split("\n");
    const read = new Set((await pins(file, annotations)).map((p) => p.line));
    const comment = file.endsWith(".ts") ? /^\s*(\/\/|\/\*|\*)/ : /^\s*#/;
    // A workflow names Go and the runner by X.Y as well.
    const named = file.startsWith(".github/") ? new RegExp(`${version.source}|\\b\\d+\\.\\d+\\b`) : version;
    lines.forEach((text, i) => {
      if (comment.test(text) || !named.test(text.replace(/127\.0\.0\.1/g, ""))) return;
      if (read.has(i + 1)) return;
      if (NATIVE.some((n) => n.file.test(file) && n.line.test(text))) return;
      if (NOT_PINS.some((n) => n.file === file && n.line.test(text))) return;
      problems.push(
        `${file}:${i + 1}: \`${text.trim()}\` names a version that Renovate does not read: put a ` +
          "`renovate: datasource=… depName=…` comment on the line above it (renovate.json's annotation manager " +
          "must read the file), write it as one of Renovate's own managers reads it (NATIVE in " +
          "tests/renovate_test.ts: a workflow's action by commit with its version in a comment), or say in " +
          "NOT_PINS there why it is no pin",
      );
    });
  }
  assert.deepEqual(problems, []);
});

Deno.test("the pins of lib/tools.ts outside its V block: the Go of the generated modules, Argo CD's kubectl", async () => {
  const found = await pins("lib/tools.ts");
  const go = found.find((p) => p.depName === "go");
  assert.deepEqual(go && [go.datasource, go.value], ["golang-version", GO]);
  const kubectl = found.find((p) => p.depName === "k8s.io/kubectl");
  assert.deepEqual(kubectl && [kubectl.datasource, `v${kubectl.value}`], ["go", ARGOCD_KUBECTL]);
  // Renovate never moves ARGOCD_KUBECTL alone: it is what the Argo CD release's go.mod replaces to.
  const rules = renovate.packageRules as { matchDepNames?: string[]; matchFileNames?: string[]; enabled?: boolean }[];
  assert.ok(
    rules.some((r) =>
      r.matchDepNames?.includes("k8s.io/kubectl") && r.matchFileNames?.includes("lib/tools.ts") &&
      r.enabled === false
    ),
    "renovate.json: no rule keeps k8s.io/kubectl of lib/tools.ts (ARGOCD_KUBECTL) from moving alone",
  );
});

Deno.test("Cilium's chart and its run-time CRDs' version are one Renovate group, and the sha256s are of that version", async () => {
  const rules = renovate.packageRules as { matchDepNames?: string[]; groupName?: string }[];
  assert.equal(rules.find((r) => r.matchDepNames?.includes("cilium"))?.groupName, "cilium");
  const sources = await readRuntimeCrdSources(REPO);
  const cilium = sources.find((s) => s.name === "cilium");
  assert.ok(cilium, "schemas/runtime-crds.yaml has no cilium source");
  assert.equal(cilium.version, (await pins("schemas/runtime-crds.yaml"))[0].value);
  assert.ok(cilium.files.every((f) => f.url.includes(`/v${cilium.version}/`)), "a URL names another version");
  assert.equal(
    cilium.digestsFor,
    cilium.version,
    `schemas/runtime-crds.yaml: cilium is at ${cilium.version} but its sha256s are of ${cilium.digestsFor}: ` +
      "run `deno task charts crds`",
  );
});

Deno.test("the compatibility tables and lists follow the pins they are about", async () => {
  const [talos, kube] = (await pins("talos/talconfig.yaml")).map((p) => p.value!.replace(/^v/, ""));
  const row = KUBERNETES_SUPPORT[talos.split(".").slice(0, 2).join(".")];
  assert.ok(
    row,
    `talos/talconfig.yaml pins Talos ${talos}, which has no row in KUBERNETES_SUPPORT (lib/talos/talconfig.ts): ` +
      "add the Kubernetes range of its Talos machinery compatibility/talosNNN",
  );
  const n = (v: string) => v.split(".").map(Number).reduce((a, x) => a * 1000 + x, 0);
  assert.ok(
    n(row[0]) <= n(kube) && n(kube) <= n(row[1]),
    `talos/talconfig.yaml pins Kubernetes ${kube}, outside what Talos ${talos} supports (${row[0]} to ${row[1]})`,
  );
  const health = parseYaml(await Deno.readTextFile(join(REPO, "rehearse/argocd-health.yaml"))) as { version: string };
  assert.equal(
    health.version,
    `v${PINS.argocd}`,
    "rehearse/argocd-health.yaml lists the health checks of another Argo CD than the pinned one: list those of " +
      `v${PINS.argocd} (its header says how) and set its version`,
  );
});
