/**
 * Loading `.envrc` the way direnv does, with its stdlib functions (`has`, `use`, `PATH_add`,
 * `watch_file`) stubbed: for tests and the start-up benchmark, without direnv or Nix.
 *
 * @module
 */

/** Bash definitions standing in for direnv's stdlib; `use` and `watch_file` append to `$STUB_LOG`. */
const DIRENV_STUBS = `
has() { [ "$1" = nix ] && [ -n "$STUB_HAS_NIX" ]; }
use() { echo "use $*" >>"$STUB_LOG"; }
PATH_add() { PATH="$1:$PATH"; }
watch_file() { echo "watch $*" >>"$STUB_LOG"; }
`;

/** A bash script that loads `.envrc` from the current directory, then runs `after`. */
export function envrcScript(after = ""): string {
  return `${DIRENV_STUBS}\nsource ./.envrc\n${after}`;
}
