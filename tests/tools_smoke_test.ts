/**
 * Runs every pinned real tool's version command: the binaries `deno task tools` built (or the
 * ones on PATH), never fakes. A missing buildable tool fails, naming the tool.
 */
import assert from "node:assert/strict";
import { cmd, Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import { Toolbox } from "../lib/toolbox.ts";
import { binariesOf, parseVersion, TOOLS } from "../lib/tools.ts";

const config = loadConfig();
const toolbox = new Toolbox(config);
const runner = new Runner({ env: config.env, defaultTimeout: 30_000 });

for (const spec of TOOLS) {
  for (const binary of binariesOf(spec)) {
    const unavailable = spec.build.kind === "unavailable" ? spec.build.why : undefined;
    const present = (await toolbox.probe(spec, binary)).status === "ok";
    Deno.test({
      name: unavailable && !present
        ? `${binary} ${spec.version}: not installed, and not buildable here (${unavailable})`
        : `${binary} ${spec.version}: the real binary reports the pinned version`,
      ignore: Boolean(unavailable) && !present,
      fn: async () => {
        const path = await toolbox.resolve(binary);
        const c = spec.versionBy === "go-buildinfo"
          ? cmd("go", ["version", "-m", path], { readOnly: true })
          : cmd(path, spec.versionArgs, { env: spec.versionEnv, readOnly: true });
        const r = await runner.run(c);
        assert.equal(
          parseVersion(spec, `${r.stdout}\n${r.stderr}`),
          spec.version,
          `${binary} at ${path} said: ${r.stdout}`,
        );
      },
    });
  }
}

Deno.test("helm templates a chart that needs a current Kubernetes without being told one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  try {
    const chart = `${dir}/needs-new`;
    await Deno.mkdir(`${chart}/templates`, { recursive: true });
    await Deno.writeTextFile(
      `${chart}/Chart.yaml`,
      'apiVersion: v2\nname: needs-new\nversion: 1.0.0\nkubeVersion: ">= 1.30.0-0"\n',
    );
    await Deno.writeTextFile(
      `${chart}/templates/cm.yaml`,
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k8s: {{ .Capabilities.KubeVersion.Version }}\n",
    );
    const r = await runner.run(cmd(await toolbox.resolve("helm"), ["template", chart], { readOnly: true }), {
      check: false,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /k8s: v1\.(\d+)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
