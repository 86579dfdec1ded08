{
  description = "homelab: a dev shell with Deno and the cluster tools";

  # nixpkgs pinned by revision (nixos-unstable, 2026-06-16); Renovate moves it forward (there is
  # no flake.lock: the revision here is the pin).
  # renovate: datasource=git-refs depName=nixpkgs packageName=https://github.com/NixOS/nixpkgs branch=nixos-unstable
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/567a49d1913ce81ac6e9582e3553dd90a955875f";

  outputs = { nixpkgs, ... }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      devShells = forAllSystems (pkgs:
        let
          # nixpkgs installs the KSOPS plugin under lib/ rather than bin/; kustomize's exec
          # plugins and our tasks call it as `ksops`.
          ksops = pkgs.runCommand "ksops" { } ''
            mkdir -p $out/bin
            for f in ${pkgs.kustomize-sops}/bin/ksops \
                     ${pkgs.kustomize-sops}/lib/viaduct.ai/v1/ksops/ksops \
                     ${pkgs.kustomize-sops}/lib/viaduct.ai/v1/ksops-exec/ksops-exec; do
              if [ -x "$f" ]; then ln -s "$f" $out/bin/ksops; break; fi
            done
            test -e $out/bin/ksops
          '';
        in
        {
          # The tools of lib/tools.ts. Where this nixpkgs revision has another version than the
          # pin, `deno task doctor` says so and `deno task tools` builds the pinned one with the
          # Go below into the user cache, which the tasks then prefer.
          default = pkgs.mkShell {
            packages = [
              pkgs.deno
              pkgs.go
              pkgs.sops
              pkgs.age
              pkgs.talhelper
              pkgs.talosctl
              pkgs.kubernetes-helm
              pkgs.kustomize
              ksops
              pkgs.go-jsonnet
              pkgs.actionlint
              # actionlint checks the workflows' run scripts with it.
              pkgs.shellcheck
              pkgs.kind
              pkgs.kubectl
              # The local control plane of `check --server` and the tests.
              pkgs.kubernetes
              pkgs.etcd
              pkgs.kwok
              # Argo CD (the multi-call binary) for the rehearsal; its Redis (miniredis) is this
              # repository's own program, built by `deno task tools`.
              pkgs.argocd
              pkgs.jq
            ];
          };
        });
    };
}
