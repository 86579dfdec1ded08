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

Deno.test("argocd is Argo CD's multi-call binary: ARGOCD_BINARY_NAME runs the repo-server or the application-controller", async () => {
  const argocd = await toolbox.resolve("argocd");
  const help = async (name: string) => {
    const r = await runner.run(
      cmd(argocd, ["--help"], { env: { ARGOCD_BINARY_NAME: name }, readOnly: true }),
      { check: false },
    );
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  // The flags the rehearsal starts them with.
  const repoServer = await help("argocd-repo-server");
  for (const flag of ["--address", "--port", "--redis", "--disable-tls", "--metrics-address"]) {
    assert.ok(repoServer.includes(flag), `argocd-repo-server has no ${flag}:\n${repoServer}`);
  }
  const controller = await help("argocd-application-controller");
  for (const flag of ["--kubeconfig", "--repo-server", "--repo-server-plaintext", "--redis", "--metrics-port"]) {
    assert.ok(controller.includes(flag), `argocd-application-controller has no ${flag}:\n${controller}`);
  }
  assert.notEqual(repoServer, controller);
});

Deno.test("miniredis answers PING on 127.0.0.1 and stops on SIGTERM", async () => {
  const child = new Deno.Command(await toolbox.resolve("miniredis"), {
    args: ["--port", "0"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) break;
      first += value;
    }
    lines.releaseLock();
    const m = /^listening on 127\.0\.0\.1:(\d+)$/m.exec(first);
    assert.ok(m, `miniredis said: ${first}`);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(m[1]) });
    try {
      await conn.write(new TextEncoder().encode("*1\r\n$4\r\nPING\r\n"));
      const buf = new Uint8Array(64);
      const n = await conn.read(buf);
      assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "+PONG\r\n");
    } finally {
      conn.close();
    }
  } finally {
    child.kill("SIGTERM");
    const status = await child.status;
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    assert.equal(status.code, 0, "miniredis did not stop cleanly on SIGTERM");
  }
});
