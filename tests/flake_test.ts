import assert from "node:assert/strict";
import { join } from "node:path";
import { TOOLS } from "../lib/tools.ts";
import { REPO } from "./helpers.ts";

const flake = await Deno.readTextFile(join(REPO, "flake.nix"));
/** The `packages = [ … ];` list of the default dev shell. */
const packages = /packages = \[([\s\S]*?)\];/.exec(flake)?.[1] ?? "";

Deno.test("the flake's dev shell provides every tool of the manifest", () => {
  assert.ok(packages, "flake.nix has no packages list");
  for (const spec of TOOLS) {
    // This repository's own programs (tools/go/…) are built by `deno task tools`, also under Nix.
    if (!spec.nix) {
      assert.equal(spec.build.kind, "repo-module", `${spec.name} has no nixpkgs attribute`);
      continue;
    }
    const attr = spec.nix.replace(/[.+]/g, "\\$&");
    const listed = new RegExp(`(^|\\s)pkgs\\.${attr}(\\s|$)`, "m").test(packages) ||
      (spec.name === "ksops" && /(^|\s)ksops(\s|$)/m.test(packages) && flake.includes(`pkgs.${spec.nix}`));
    assert.ok(listed, `flake.nix does not provide ${spec.name} (nixpkgs attribute ${spec.nix})`);
  }
  for (const extra of ["deno", "go"]) assert.match(packages, new RegExp(`pkgs\\.${extra}\\s`), extra);
});

Deno.test("the flake pins nixpkgs by revision", () => {
  assert.match(flake, /inputs\.nixpkgs\.url = "github:NixOS\/nixpkgs\/[0-9a-f]{40}";/);
});
