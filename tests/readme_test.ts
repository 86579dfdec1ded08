/**
 * The READMEs as a new owner follows them: the first two commands exist and start from nothing,
 * CI runs exactly them, every task and subcommand the READMEs name exists, every component is
 * listed, and raw talosctl/kubectl lines do not depend on direnv.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { releaseOf } from "../lib/render/argocd.ts";
import { binariesOf, PINS, TOOLS } from "../lib/tools.ts";
import { fakeTool, git, REPO, SYSTEM_PATH, withTempDir } from "./helpers.ts";

const readme = await Deno.readTextFile(join(REPO, "README.md"));
const talosReadme = await Deno.readTextFile(join(REPO, "talos", "README.md"));
const tasks = Object.keys((JSON.parse(await Deno.readTextFile(join(REPO, "deno.json"))) as { tasks: object }).tasks);

/** The README's first ```sh block: the commands a newcomer copies. */
function firstCommands(text: string): string[] {
  const block = /^```sh\n([\s\S]*?)^```$/m.exec(text)?.[1] ?? "";
  return block.split("\n").map((l) => l.replace(/#.*$/, "").trim()).filter(Boolean);
}

Deno.test("the README starts with two commands through ./deno: a task, then the test suite", () => {
  const lines = firstCommands(readme);
  assert.equal(lines.length, 2, lines.join("\n"));
  for (const line of lines) {
    const task = /^\.\/deno task (\S+)$/.exec(line)?.[1];
    assert.ok(task && tasks.includes(task), `${line}: not \`./deno task TASK\` with a task of deno.json`);
  }
  assert.equal(lines[0], "./deno task dev", "the main job comes first");
  assert.equal(lines[1], "./deno task test");
});

Deno.test(".ci/run runs the README's first sh block literally, in a clean clone", async () => {
  const ci = await Deno.readTextFile(join(REPO, ".ci", "run"));
  assert.match(ci, /README\.md/);
  assert.match(ci, /git clone -q "\$root"/);
  // The extraction .ci/run uses gives the same two lines.
  const awk = /awk '([^']+)'/.exec(ci)?.[1];
  assert.ok(awk, "no awk program in .ci/run");
  const out = new Deno.Command("awk", { args: [awk, join(REPO, "README.md")] }).outputSync();
  const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
  assert.deepEqual(lines.map((l) => l.replace(/#.*$/, "").trim()), firstCommands(readme));
});

const pinned = (await Deno.readTextFile(join(REPO, ".deno-version"))).trim();

async function launcher(env: Record<string, string>): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(join(REPO, "deno"), { args: ["--version"], env, clearEnv: true, cwd: REPO })
    .output();
  const text = new TextDecoder();
  return { code: r.code, out: text.decode(r.stdout) + text.decode(r.stderr) };
}

Deno.test("./deno runs the pinned Deno without one on PATH, and skips a deno of another version", async () => {
  await withTempDir(async (dir) => {
    const home = Deno.env.get("HOME")!;
    const cache = Deno.env.get("XDG_CACHE_HOME") ?? join(home, ".cache");
    const bin = join(dir, "bin");
    await fakeTool(bin, "deno", `echo "deno 1.0.0 (a stranger)"`);
    // The pinned Deno is in the user cache (scripts/get-deno put it there); npm is not needed again.
    for (const path of [SYSTEM_PATH, `${bin}:${SYSTEM_PATH}`]) {
      const r = await launcher({ HOME: home, XDG_CACHE_HOME: cache, PATH: path });
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`^deno ${pinned.replaceAll(".", "\\.")} `), r.out);
    }
  });
});

Deno.test("./deno falls back to the flake's dev shell when there is neither npm nor a cached Deno", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await fakeTool(bin, "nix", `echo "nix $*"`);
    // No npm and no deno here: only what the launcher itself uses, and the fake nix.
    for (const tool of ["bash", "tr", "head", "cut", "dirname"]) {
      const path = new TextDecoder().decode(
        new Deno.Command("bash", { args: ["-c", `command -v ${tool}`], env: { PATH: SYSTEM_PATH } }).outputSync()
          .stdout,
      ).trim();
      await Deno.symlink(path, join(bin, tool));
    }
    const path = bin;
    const r = await launcher({ HOME: join(dir, "home"), XDG_CACHE_HOME: join(dir, "cache"), PATH: path });
    assert.equal(r.code, 0, r.out);
    assert.equal(
      r.out.trim(),
      `nix --extra-experimental-features nix-command flakes develop ${REPO} --command deno --version`,
    );
  });
});

Deno.test("every task of deno.json is in the README's task table, and every task the READMEs name exists", async () => {
  const table = readme.slice(readme.indexOf("## Tasks"), readme.indexOf("## Secrets"));
  for (const t of tasks) assert.match(table, new RegExp(`\`deno task ${t}\\b`), `the task table omits ${t}`);
  for (const [file, text] of [["README.md", readme], ["talos/README.md", talosReadme]]) {
    for (const m of text.matchAll(/deno task ([a-z][-a-z0-9]*)(?: ([a-z][-a-z0-9]*))?/g)) {
      const [, task, sub] = m;
      assert.ok(tasks.includes(task), `${file}: \`deno task ${task}\` does not exist`);
      if (sub && ["secrets", "talos", "new", "dev"].includes(task)) {
        const source = await Deno.readTextFile(join(REPO, "tasks", `${task}.ts`));
        assert.ok(
          source.includes(`name: "${sub}"`) || source.includes(`.command("${sub}")`),
          `${file}: \`deno task ${task} ${sub}\` does not exist`,
        );
      }
    }
  }
});

Deno.test("the README lists every component of system/ and platform/", async () => {
  const stacks = readme.split("\n").slice(readme.split("\n").findIndex((l) => l.startsWith("- **Stacks**"))).slice(0, 3)
    .join(" ");
  for (const stack of ["system", "platform"]) {
    for await (const e of Deno.readDir(join(REPO, stack))) {
      if (e.isDirectory) {
        assert.match(stacks, new RegExp(`\\b${e.name}\\b`), `the Stacks line omits ${stack}/${e.name}`);
      }
    }
  }
});

Deno.test("talos/README.md: raw talosctl and kubectl lines name the repository's configs; adopt skips gensecret", () => {
  for (const m of talosReadme.matchAll(/`(talosctl|kubectl) [^`]*`|^.*\| (kubectl) .*$/gm)) {
    const line = m[0];
    if (line.startsWith("`talosctl")) assert.match(line, /--talosconfig talos\/clusterconfig\/talosconfig/, line);
    else assert.match(line, /--kubeconfig \.kube\/config/, line);
  }
  const install = talosReadme.slice(talosReadme.indexOf("## 4."), talosReadme.indexOf("## 5."));
  assert.match(install, /--adopt[\s\S]*skip `talos gensecret`/);
  assert.doesNotMatch(install, /bootstrap of the\s+stacks/);
});

Deno.test("the README's tool table is the manifest: every tool with its binaries, and whether `tools` builds it", () => {
  const section = readme.slice(readme.indexOf("## The pinned tools"), readme.indexOf("## Layout"));
  const rows = section.split("\n").filter((l) => /^\| [a-z]/.test(l) && !l.startsWith("| tool "))
    .map((l) => l.split("|").slice(1, -1).map((c) => c.trim()));
  // The versions are not repeated there: lib/tools.ts is their one place (Renovate moves them).
  const expected = TOOLS.map((t) => [binariesOf(t).join(", "), t.build.kind !== "unavailable"]);
  const actual = rows.map(([tools, built]) => [
    // `jsonnet (go-jsonnet)`: a note in parentheses after the names.
    tools.replace(/ \(.*\)$/, ""),
    /^yes\b/.test(built),
  ]);
  const key = (r: (string | boolean)[]) => String(r[0]);
  assert.deepEqual(
    [...actual].sort((a, b) => key(a).localeCompare(key(b))),
    [...expected].sort((a, b) => key(a).localeCompare(key(b))),
    'README.md\'s table under "The pinned tools" differs from lib/tools.ts: one row per tool (its binaries, ' +
      "`yes` when `deno task tools` builds it)",
  );
  assert.doesNotMatch(section, /\bv?\d+\.\d+\.\d+\b/, "the section repeats a version that lib/tools.ts pins");
});

/** The chart version a component's kustomization pins (`helmCharts` entry `name`). */
async function chartPin(dir: string, name: string): Promise<string> {
  const k = parseYaml(await Deno.readTextFile(join(REPO, dir, "kustomization.yaml"))) as {
    helmCharts?: { name: string; version: string }[];
  };
  return String(k.helmCharts?.find((c) => c.name === name)?.version);
}

/** The version in a release URL a component's kustomization lists (`…/download/vX.Y.Z/…`). */
async function urlPin(dir: string): Promise<string> {
  const text = await Deno.readTextFile(join(REPO, dir, "kustomization.yaml"));
  return /\/releases\/download\/v(\d+\.\d+\.\d+)\//.exec(text)?.[1] ?? "none";
}

/**
 * Every version the prose of the READMEs names. `pin` is the pin it repeats (the test fails when
 * they differ: Renovate moved the pin, the prose was not updated); a `fact` is no pin (history,
 * or what one release bundles), said why, and `of` names the pin it is a fact of, when there is
 * one: the fact is to be checked again once that pin moves.
 */
const PROSE: {
  file: string;
  /** Each group captures one version. */
  re: RegExp;
  pins?: (() => Promise<string>)[];
  fact?: string;
  of?: { pin: () => Promise<string>; at: string };
}[] = [
  {
    file: "README.md",
    re: /argo-cd chart (\S+) → Argo CD v(\S+) → kustomize (\S+), Helm (\S+);/,
    pins: [
      () => chartPin("system/argocd", "argo-cd"),
      async () => releaseOf(await chartPin("system/argocd", "argo-cd"))?.argocd ?? "none",
      () => Promise.resolve(PINS.kustomize),
      () => Promise.resolve(PINS.helm),
    ],
  },
  {
    file: "system/argocd/README.md",
    re: /\(v(\S+), from the pinned chart (\S+): kustomize (\S+), Helm (\S+)\)/,
    pins: [
      async () => releaseOf(await chartPin("system/argocd", "argo-cd"))?.argocd ?? "none",
      () => chartPin("system/argocd", "argo-cd"),
      () => Promise.resolve(PINS.kustomize),
      () => Promise.resolve(PINS.helm),
    ],
  },
  {
    file: "system/argocd/README.md",
    re: /the ksops image's kustomize \((\S+),/,
    fact: "the kustomize the viaductoss/ksops image bundles (not used: only the plugin is copied)",
    of: {
      pin: async () =>
        /image: viaductoss\/ksops:v(\S+)/.exec(await Deno.readTextFile(join(REPO, "system/argocd/values.yaml")))?.[1] ??
          "none",
      at: "4.5.1",
    },
  },
  {
    file: "system/gateway-api/README.md",
    re: /standard channel, v(\S+)\)/,
    pins: [() => urlPin("system/gateway-api")],
  },
  { file: "platform/kubevirt/README.md", re: /release manifest v(\S+)\)/, pins: [() => urlPin("platform/kubevirt")] },
  { file: "rehearse/README.md", re: /\(Argo CD v(\S+)\)/, pins: [() => Promise.resolve(PINS.argocd)] },
  { file: "rehearse/stages/README.md", re: /kwok v(\S+)\)/, pins: [() => Promise.resolve(PINS.kwok)] },
  { file: "system/piraeus/README.md", re: /The pin (\S+) is/, pins: [() => chartPin("system/piraeus", "piraeus")] },
  {
    file: "system/piraeus/README.md",
    re: /the previous pin (\S+) could not[\s\S]*ends at v(\S+) \(2024\)[\s\S]*verified with (\S+) in its place/,
    fact: "the history of the pin: earlier versions and the one renders were verified with",
  },
  {
    file: "talos/README.md",
    re: /# installed, v(\S+), secure boot/,
    pins: [
      async () =>
        /^talosVersion: v(\S+)$/m.exec(await Deno.readTextFile(join(REPO, "talos/talconfig.yaml")))?.[1] ?? "none",
    ],
  },
];

Deno.test("every version the READMEs name repeats the pin it names (or is a fact said to be one)", async () => {
  const files = git(REPO, "ls-files", "*.md").split("\n").filter((f) => f && !f.startsWith("tests/"));
  const problems: string[] = [];
  for (const file of files) {
    const text = await Deno.readTextFile(join(REPO, file));
    // Prose wraps: the rules read it with line breaks as spaces (the offsets stay).
    const flat = text.replaceAll("\n", " ");
    const lineOf = (at: number) => text.slice(0, at).split("\n").length;
    const known = new Set<number>();
    for (const rule of PROSE.filter((r) => r.file === file)) {
      const m = new RegExp(rule.re.source, "d").exec(flat);
      if (!m) {
        problems.push(`${file}: the sentence ${rule.re} is gone: update or remove its entry in tests/readme_test.ts`);
        continue;
      }
      for (let g = 1; g < m.length; g++) {
        const at = m.indices![g]![0];
        known.add(at + (m[g].startsWith("v") ? 1 : 0));
        if (rule.pins) {
          const pin = await rule.pins[g - 1]();
          if (m[g] !== pin) problems.push(`${file}:${lineOf(at)}: names ${m[g]}, but the pin is ${pin}: write ${pin}`);
        }
      }
      if (rule.of && await rule.of.pin() !== rule.of.at) {
        problems.push(
          `${file}: ${m.slice(1).join(", ")}: ${rule.fact}, true of ${rule.of.at}; the pin is now ` +
            `${await rule.of.pin()}: check the fact for it and update the prose and the entry in tests/readme_test.ts`,
        );
      }
    }
    for (const m of flat.matchAll(/(?<![\w.])v?(\d+\.\d+\.\d+)(?!\.?\d)/g)) {
      const at = m.index! + m[0].length - m[1].length;
      if (!known.has(at)) {
        problems.push(
          `${file}:${lineOf(at)}: names version ${m[1]}, which no entry of PROSE in tests/readme_test.ts accounts ` +
            "for: add the pin it repeats (or say why it is no pin)",
        );
      }
    }
  }
  assert.deepEqual(problems, []);
});
