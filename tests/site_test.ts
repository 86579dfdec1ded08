/**
 * site.yaml and `deno task configure`: every invalid fixture (tests/fixtures/site/invalid) is
 * rejected with the message its first line names, every valid one passes; edits keep comments
 * and layout; and a copy of the repository given another owner's site.yaml is configured, agrees
 * with it on a second run, and passes the static checks with no other edit.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import { InputError } from "../lib/errors.ts";
import { OWNED_FILES, planConfigure, siteError, writePlan } from "../lib/site/configure.ts";
import { isExample, parseSite } from "../lib/site/site.ts";
import { applyEdits, setValue, type TextEdit } from "../lib/site/yamledit.ts";
import { askSite, configureCommand, siteDrift } from "../lib/tasks/configure.ts";
import { consoleUi } from "../lib/ui.ts";
import { checkEnvironments, checkStacks } from "../lib/check/stacks.ts";
import { renderRoot } from "../lib/render/root.ts";
import { checkTalconfig, parseEnv } from "../lib/talos/talconfig.ts";
import { Toolbox } from "../lib/toolbox.ts";
import { denoDir, git, REPO, withTempDir } from "./helpers.ts";
import { SITE } from "./site_values.ts";

const FIXTURES = join(REPO, "tests", "fixtures", "site");
/** The site.yaml the repository ships (the tree's own may be another owner's). */
const EXAMPLE = join(FIXTURES, "valid", "repository.yaml");
const config = loadConfig();
const runner = new Runner({ env: config.env, resolve: new Toolbox(config).resolve });

/** What configure says about a site.yaml text: the error paragraph, or "" when it is accepted. */
async function verdict(text: string): Promise<string> {
  const { site, problems } = parseSite(text);
  if (!site) return siteError(problems).message;
  try {
    await planConfigure(REPO, { site, text, problems });
    return "";
  } catch (err) {
    if (err instanceof InputError) return err.message;
    throw err;
  }
}

async function fixtures(kind: "valid" | "invalid"): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const e of Deno.readDir(join(FIXTURES, kind))) {
    out.push([e.name, await Deno.readTextFile(join(FIXTURES, kind, e.name))]);
  }
  return out.sort();
}

Deno.test("site.yaml: every invalid fixture is rejected with its message, at a line of site.yaml", async () => {
  const invalid = await fixtures("invalid");
  assert.ok(invalid.length >= 20, `${invalid.length} invalid fixtures`);
  for (const [name, text] of invalid) {
    const m = /^# rejected by: ([^:]+): (.+)$/m.exec(text.split("\n")[0]);
    assert.ok(m, `${name} starts with '# rejected by: CHECK: MESSAGE'`);
    const said = await verdict(text);
    assert.ok(said.includes(m[2]), `${name}: expected '${m[2]}' in:\n${said || "(accepted)"}`);
    assert.match(said, /site\.yaml:\d+: /, `${name}: names the line`);
    assert.match(said, /\n\s+fix: /, `${name}: says how to fix it`);
  }
});

Deno.test("site.yaml: the repository's own, a fourth node, an IPv6 pool and another owner's are accepted", async () => {
  const valid = await fixtures("valid");
  assert.deepEqual(valid.map(([n]) => n), [
    "another-owner.yaml",
    "fourth-node.yaml",
    "ipv6-pool.yaml",
    "repository.yaml",
  ]);
  for (const [name, text] of valid) assert.equal(await verdict(text), "", name);
  assert.equal(await verdict(await Deno.readTextFile(join(REPO, "site.yaml"))), "", "the tree's own site.yaml");
  const example = valid.find(([n]) => n === "repository.yaml")![1];
  assert.ok(isExample(parseSite(example).site!), "repository.yaml is the site.yaml the repository ships");
});

Deno.test("site.yaml: the repository agrees with its site.yaml (configure --check is clean)", async () => {
  assert.deepEqual((await planConfigure(REPO)).changes, []);
});

Deno.test("yaml edits keep comments, quoting and layout; a changed shape is rewritten at its indentation", () => {
  const text = [
    "# head",
    "spec:",
    '  name: "*.a.example" # quoted',
    "  tag: 'v1'",
    "  list: &x [1.1.1.1, 2.2.2.2]",
    "  blocks:",
    "    # the pools",
    "    - cidr: 10.0.0.0/24",
    "  other: *x",
    "",
  ].join("\n");
  const doc = parseAllDocuments(text)[0];
  const edits: TextEdit[] = [];
  setValue(text, doc, ["spec", "name"], "*.b.example", edits);
  setValue(text, doc, ["spec", "tag"], "v2", edits);
  setValue(text, doc, ["spec", "list"], ["3.3.3.3"], edits);
  setValue(text, doc, ["spec", "blocks"], [{ cidr: "10.1.0.0/24" }, { cidr: "fd00::/112" }], edits);
  assert.equal(
    applyEdits(text, edits),
    [
      "# head",
      "spec:",
      '  name: "*.b.example" # quoted',
      "  tag: 'v2'",
      "  list: &x [3.3.3.3]",
      "  blocks:",
      "    # the pools",
      "    - cidr: 10.1.0.0/24",
      "    - cidr: fd00::/112",
      "  other: *x",
      "",
    ].join("\n"),
  );
  const same: TextEdit[] = [];
  setValue(text, doc, ["spec", "blocks"], [{ cidr: "10.0.0.0/24" }], same);
  assert.deepEqual(same, [], "an equal value is no edit");
});

Deno.test("configure asks for the values with the current ones as defaults, and keeps site.yaml's comments", async () => {
  const text = await Deno.readTextFile(EXAMPLE);
  const { site } = parseSite(text);
  const asked: string[] = [];
  const answers: Record<string, string> = {
    "DNS zone for the services (argocd.ZONE, grafana.ZONE …)": "home.example.net",
    "LoadBalancer pools (CIDRs, comma-separated)": "10.40.0.0/25, 10.40.1.0/24",
    "The cluster's AS number": "65010",
  };
  const out = askSite(text, site!, (q, current) => {
    asked.push(`${q} [${current}]`);
    return answers[q] ?? "";
  })!;
  assert.ok(asked.includes("Cluster name [homelab]"), asked.join("\n"));
  assert.ok(asked.includes("Node 2 (node-2): address [192.168.1.42]"), asked.join("\n"));
  const again = parseSite(out);
  assert.deepEqual(again.problems, []);
  assert.equal(again.site!.cluster.domain, "home.example.net");
  assert.deepEqual(again.site!.loadBalancer.prod.pools, ["10.40.0.0/25", "10.40.1.0/24"]);
  assert.equal(again.site!.bgp.localASN, 65010);
  assert.equal(again.site!.cluster.name, "homelab", "an empty answer keeps the default");
  assert.equal(
    out.split("\n").filter((l) => l.trimStart().startsWith("#")).length,
    text.split("\n").filter((l) => l.trimStart().startsWith("#")).length,
    "comments kept",
  );
  assert.equal(askSite(text, site!, () => undefined), undefined, "nobody to answer: nothing changes");
});

/** The files of the repository as a fresh clone has them (tracked and new, not ignored). */
async function cloneTree(to: string): Promise<void> {
  const files = git(REPO, "ls-files", "-co", "--exclude-standard", "-z").split("\0").filter(Boolean);
  for (const f of files) {
    const from = join(REPO, f);
    const info = await Deno.lstat(from).catch(() => undefined);
    if (!info?.isFile) continue;
    await Deno.mkdir(join(to, f, ".."), { recursive: true });
    await Deno.copyFile(from, join(to, f));
  }
}

async function task(root: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(root, "tasks", "configure.ts"), ...args],
    env: { DENO_DIR: denoDir(), NO_COLOR: "1", HOME: Deno.env.get("HOME") ?? "/", PATH: Deno.env.get("PATH") ?? "" },
    clearEnv: true,
    cwd: root,
    stdin: "null",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("a fresh clone with another owner's site.yaml: configure, then it agrees and passes the static checks", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "clone");
    await cloneTree(root);
    const before = new Map(
      await Promise.all(OWNED_FILES.map(async (f) => [f, await Deno.readTextFile(join(root, f))] as const)),
    );
    await Deno.copyFile(join(FIXTURES, "valid", "another-owner.yaml"), join(root, "site.yaml"));

    const check = await task(root, ["--check"]);
    assert.equal(check.code, 1, check.stderr);
    const lines = check.stdout.split("\n");
    assert.ok(
      lines.includes(`talos/talenv.yaml:4: CLUSTER_VIP is ${SITE.lan.vip}, but site.yaml lan.vip says 10.1.2.40`),
      check.stdout,
    );
    assert.ok(
      lines.includes(
        `system/gateway/base/gateway.yaml:24: spec.listeners[1].hostname is *.${SITE.cluster.domain}, ` +
          "but site.yaml cluster.domain says *.home.example.net",
      ),
      check.stdout,
    );

    const dry = await task(root, ["--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    for (const f of OWNED_FILES) {
      assert.equal(await Deno.readTextFile(join(root, f)), before.get(f), `--dry-run wrote ${f}`);
    }

    const first = await task(root, []);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.stdout, dry.stdout, "--dry-run printed what configure does");
    const changed = new Set(first.stdout.trim().split("\n").map((l) => l.split(":")[0]));
    assert.deepEqual([...changed].sort(), [...OWNED_FILES], "every owned file changed");
    assert.doesNotMatch(first.stderr, /example values/);

    const second = await task(root, []);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, "", "re-running changes nothing");
    assert.equal((await task(root, ["--check"])).code, 0);
    // A value edited by hand is drift for `deno task check` (which runs configure's check).
    const talenv = join(root, "talos/talenv.yaml");
    const configured = await Deno.readTextFile(talenv);
    await Deno.writeTextFile(talenv, configured.replace("CLUSTER_VIP: 10.1.2.40", "CLUSTER_VIP: 10.1.2.39"));
    assert.deepEqual(await siteDrift(root), [
      "talos/talenv.yaml:4: CLUSTER_VIP is 10.1.2.39, but site.yaml lan.vip says 10.1.2.40",
    ]);
    await Deno.writeTextFile(talenv, configured);
    assert.deepEqual(await siteDrift(root), []);

    for (const f of OWNED_FILES) {
      const text = await Deno.readTextFile(join(root, f));
      for (const old of [SITE.cluster.domain, SITE.lan.vip, SITE.loadBalancer.prod.gateway, SITE.repository.url]) {
        assert.ok(!text.includes(old), `${f} still holds ${old}`);
      }
      // Comments survive: every comment line of the original is still there.
      const comments = (t: string) => t.split("\n").filter((l) => /^\s*(#|\/\/)/.test(l));
      assert.deepEqual(comments(text), comments(before.get(f)!), `${f}: comments kept`);
    }
    const fmt = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--check", ...OWNED_FILES.filter((f) => f.endsWith(".yaml"))],
      cwd: root,
      env: { DENO_DIR: denoDir(), NO_COLOR: "1" },
    }).output();
    assert.ok(fmt.success, new TextDecoder().decode(fmt.stderr));

    // The static checks that need no charts: talconfig's rules, the stacks, the environments, the root app.
    const env = parseEnv(await Deno.readTextFile(join(root, "talos/talenv.yaml")), "talenv");
    const tal = checkTalconfig(await Deno.readTextFile(join(root, "talos/talconfig.yaml")), env);
    assert.deepEqual(tal.problems, []);
    assert.deepEqual(tal.config.nodes.map((n) => [n.hostname, n.ipAddress, n.controlPlane]), [
      ["node-1", "10.1.2.41", true],
      ["node-2", "10.1.2.42", true],
      ["node-3", "10.1.2.43", true],
      ["node-4", "10.1.2.44", false],
    ]);
    assert.equal(tal.config.clusterName, "castle");
    assert.deepEqual(await checkStacks(root), []);
    assert.deepEqual(await checkEnvironments(root), []);
    for (const e of ["prod", "dev"] as const) {
      const apps = (await renderRoot(runner, root, { env: e })).filter((r) => r.kind === "Application");
      assert.ok(apps.length > 0);
      for (const a of apps) {
        assert.deepEqual([a.spec.source!.repoURL, a.spec.source!.targetRevision], [
          "git@git.example.net:me/castle.git",
          "live",
        ]);
      }
    }
  });
});

Deno.test("configure writes nothing when site.yaml is wrong, and names every mistake", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "clone");
    await cloneTree(root);
    const before = await Promise.all(OWNED_FILES.map((f) => Deno.readTextFile(join(root, f))));
    const bad = (await Deno.readTextFile(join(FIXTURES, "valid", "another-owner.yaml")))
      .replace("vip: 10.1.2.40", "vip: 10.1.2.41")
      .replace("dns: 10.60.0.53", "dns: 10.61.0.53");
    await Deno.writeTextFile(join(root, "site.yaml"), bad);
    const r = await task(root, []);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /site\.yaml:\d+: lan\.vip: the VIP 10\.1\.2\.41 is node 'node-1''s own address/);
    assert.match(r.stderr, /site\.yaml:\d+: loadBalancer\.prod\.dns: 10\.61\.0\.53 is outside the prod pools/);
    assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/, "no stack trace");
    assert.deepEqual(await Promise.all(OWNED_FILES.map((f) => Deno.readTextFile(join(root, f)))), before);
    const left: string[] = [];
    for await (const e of Deno.readDir(join(root, "talos"))) if (e.name.endsWith(".tmp")) left.push(e.name);
    assert.deepEqual(left, [], "no temporary file left");
  });
});

Deno.test("configure on the example site.yaml: asks on a terminal and writes the answers; elsewhere says what to edit", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "clone");
    await cloneTree(root);
    await Deno.copyFile(EXAMPLE, join(root, "site.yaml"));
    const cfg = { ...config, repoRoot: root };
    const said: string[] = [];
    const ui = consoleUi({ write: (t) => said.push(t) });
    const before = await Deno.readTextFile(join(root, "site.yaml"));

    assert.equal(await configureCommand(cfg, {}, ui), 0);
    assert.match(said.join(""), /site\.yaml still holds the example values .*put yours in it/);
    assert.equal(await Deno.readTextFile(join(root, "site.yaml")), before, "nobody asked: site.yaml unchanged");

    const wrong = await configureCommand(cfg, { ask: (q) => (q === "The cluster's AS number" ? "23456" : "") }, ui)
      .then(() => undefined, (e) => e);
    assert.ok(wrong instanceof InputError, String(wrong));
    assert.match(wrong.message, /bgp\.localASN: 23456 is AS_TRANS/);
    assert.match(wrong.hint ?? "", /your answers neither/);
    assert.equal(await Deno.readTextFile(join(root, "site.yaml")), before, "a wrong answer: site.yaml unchanged");

    said.length = 0;
    const answers: Record<string, string> = {
      "DNS zone for the services (argocd.ZONE, grafana.ZONE …)": "home.example.net",
      "The Git URL Argo CD follows (your fork)": "https://git.example.net/me/homelab.git",
    };
    assert.equal(await configureCommand(cfg, { ask: (q) => answers[q] ?? "" }, ui), 0);
    const site = parseSite(await Deno.readTextFile(join(root, "site.yaml"))).site!;
    assert.equal(site.cluster.domain, "home.example.net");
    assert.equal(site.repository.url, "https://git.example.net/me/homelab.git");
    assert.match(
      await Deno.readTextFile(join(root, "system/k8s-gateway/base/values.yaml")),
      /^domain: home\.example\.net$/m,
    );
    assert.match(
      await Deno.readTextFile(join(root, "root/root.jsonnet")),
      /repoURL='https:\/\/git\.example\.net\/me\/homelab\.git'/,
    );
    assert.deepEqual((await planConfigure(root)).changes, [], "site.yaml and the files agree");
  });
});

Deno.test("writePlan: a file that cannot be written leaves every file as it was and no temporary file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a.yaml"), "a: 1\n");
    const plan = {
      site: SITE,
      changes: [],
      files: new Map([["a.yaml", "a: 2\n"], ["missing/b.yaml", "b: 2\n"]]),
    };
    await assert.rejects(writePlan(dir, plan), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(join(dir, "a.yaml")), "a: 1\n");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.yaml"]);
    await writePlan(dir, { ...plan, files: new Map([["a.yaml", "a: 2\n"]]) });
    assert.equal(await Deno.readTextFile(join(dir, "a.yaml")), "a: 2\n");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.yaml"]);
  });
});
