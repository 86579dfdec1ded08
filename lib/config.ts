/**
 * The configuration entry point: the only library module that reads the process environment.
 *
 * Tasks call {@link loadConfig} once and hand the result down; tests build a {@link Config} from
 * an environment of their own.
 *
 * @module
 */

// No node: modules here: every task loads this first, and they cost start-up time (`deno task bench`).
const join = (...parts: string[]) => parts.join("/").replace(/\/{2,}/g, "/");

/** Everything the library needs to know about the machine it runs on. */
export interface Config {
  /** The environment external tools run with. */
  readonly env: Readonly<Record<string, string>>;
  /** The repository checkout this code lives in. */
  readonly repoRoot: string;
  readonly home: string;
  /** `${XDG_CACHE_HOME:-~/.cache}/homelab`. */
  readonly cacheDir: string;
  /** Where `deno task tools` builds the pinned tools: `<cacheDir>/tools`. */
  readonly toolsDir: string;
  /** `${XDG_CONFIG_HOME:-~/.config}`. */
  readonly configHome: string;
  /** `SOPS_AGE_KEY_FILE`, when set. */
  readonly ageKeyFileEnv?: string;
  /** Whether `SOPS_AGE_KEY` is set (its value is never kept here). */
  readonly ageKeyInEnv: boolean;
  /** Where sops looks for age keys when nothing is set: `<configHome>/sops/age/keys.txt`. */
  readonly defaultAgeKeyFile: string;
  /** Print stacks and every command (`DEBUG=1`). */
  readonly verbose: boolean;
  /** Running in CI (`CI=true`): no prompts, no progress animation. */
  readonly ci: boolean;
}

const REPO_ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");

/** Builds the configuration from an environment (the process environment by default). */
export function loadConfig(env: Readonly<Record<string, string>> = Deno.env.toObject()): Config {
  const home = env.HOME || "/";
  const cacheDir = join(env.XDG_CACHE_HOME || join(home, ".cache"), "homelab");
  const configHome = env.XDG_CONFIG_HOME || join(home, ".config");
  return {
    env,
    repoRoot: REPO_ROOT,
    home,
    cacheDir,
    toolsDir: join(cacheDir, "tools"),
    configHome,
    ageKeyFileEnv: env.SOPS_AGE_KEY_FILE || undefined,
    ageKeyInEnv: Boolean(env.SOPS_AGE_KEY),
    defaultAgeKeyFile: join(configHome, "sops", "age", "keys.txt"),
    verbose: isTrue(env.DEBUG),
    ci: isTrue(env.CI),
  };
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && value !== "" && value !== "0" && value.toLowerCase() !== "false";
}
