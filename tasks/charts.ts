/**
 * `deno task charts import DIR`: packaged charts into the content-addressed chart cache;
 * `deno task charts crds`: the sha256s of the run-time CRDs at their pinned version.
 * @module
 */

import { runTask } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";

const config = loadConfig();

await runTask(
  {
    name: "charts",
    description: "The chart cache that render uses (<cache>/homelab/charts).",
    commands: [{
      name: "import",
      description:
        "Put packaged charts (.tgz, from `helm package` or `helm pull`) into the chart cache, for air-gapped " +
        "machines or to render with charts you packaged yourself. Name and version come from each Chart.yaml; a " +
        "kustomization's chart with that name and version uses it unless one pulled from its own repo is cached.",
      arguments: [{
        name: "<dir>",
        description: "a folder of .tgz files, or one .tgz (with --url: the manifest file)",
      }],
      options: [{
        flags: "--url <url>",
        description: "import one manifest that kustomizations reference by this URL (Gateway API, KubeVirt)",
      }],
      action: async (dir: string, opts: { url?: string }) => {
        const [{ chartsImportCommand }, { consoleUi }] = await Promise.all([
          import("../lib/tasks/render.ts"),
          import("../lib/ui.ts"),
        ]);
        return await chartsImportCommand(config, dir, consoleUi(), opts);
      },
    }, {
      name: "crds",
      description: "Fetch the run-time CRD files of schemas/runtime-crds.yaml at each source's version (into the " +
        "chart cache) and write their sha256s and `digestsFor` there: after Renovate moved the version with the " +
        "chart, before `check` can pass. Review the diff and commit it.",
      action: async () => {
        const [{ chartsCrdsCommand }, { consoleUi }] = await Promise.all([
          import("../lib/tasks/render.ts"),
          import("../lib/ui.ts"),
        ]);
        return await chartsCrdsCommand(config, consoleUi());
      },
    }],
  },
  Deno.args,
  config.verbose,
);
