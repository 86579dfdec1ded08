/**
 * Start-up: a task entry file loads no npm package and no node: module before it needs one
 * (loading the first npm package costs more than a whole empty task; `deno task bench` measures
 * the ratio). Checked on the module graph, so the test does not time anything.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO } from "./helpers.ts";

interface Dependency {
  readonly code?: { readonly specifier: string };
  readonly isDynamic?: boolean;
}
interface Info {
  readonly modules: readonly { readonly specifier: string; readonly dependencies?: readonly Dependency[] }[];
}

/** The modules `entry` loads before it runs: its static imports, transitively (dynamic imports wait). */
function staticGraph(entry: string): string[] {
  const out = new Deno.Command(Deno.execPath(), { args: ["info", "--json", entry], cwd: REPO }).outputSync();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as Info;
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const visit = (specifier: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const d of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (d.code && !d.isDynamic) visit(d.code.specifier);
    }
  };
  visit(new URL(`file://${join(REPO, entry)}`).href);
  return [...seen];
}

for (const e of Deno.readDirSync(join(REPO, "tasks"))) {
  Deno.test(`tasks/${e.name} loads no npm package and no node: module at start-up`, () => {
    const loaded = staticGraph(`tasks/${e.name}`);
    assert.ok(loaded.some((s) => s.endsWith("/lib/cli.ts")), loaded.join("\n"));
    assert.deepEqual(loaded.filter((s) => /^(npm|node):/.test(s)), []);
  });
}
