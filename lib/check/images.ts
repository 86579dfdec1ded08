/**
 * Images are pinned: by a tag other than `latest`, or by digest. An image without a tag is
 * `latest` too.
 *
 * @module
 */

import { type Finding, refOf, type RenderedApp } from "../render/model.ts";
import { containersOf, podTemplates } from "./pods.ts";

/**
 * An image reference from its parts, as charts' values (`repository`, `tag`, `digest`) and
 * kustomize's `images:` (`name`, `newTag`, `digest`) hold it.
 */
export function imageRef(repository: unknown, tag: unknown, digest: unknown): string {
  const part = (v: unknown) => (v === undefined || v === null ? "" : String(v));
  return `${part(repository)}${part(tag) ? `:${part(tag)}` : ""}${part(digest) ? `@${part(digest)}` : ""}`;
}

/**
 * Why an image reference is not pinned, or undefined when it is: the one rule for rendered
 * manifests and for the files they come from (see lib/check/stacks.ts).
 */
export function unpinned(image: unknown): string | undefined {
  if (typeof image !== "string" || !image.trim()) return "has no image";
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined;
  const name = image.split("@")[0];
  const tag = /:([\w][\w.-]{0,127})$/.exec(name.slice(name.lastIndexOf("/") + 1))?.[1];
  if (!tag) return `image '${image}' has no tag (that means latest)`;
  if (tag === "latest") return `image '${image}' is tagged latest`;
  return undefined;
}

/** The image findings of one app. */
export function checkImages(app: RenderedApp): Finding[] {
  const findings: Finding[] = [];
  for (const o of app.objects) {
    for (const pod of podTemplates(o)) {
      for (const { field, container } of containersOf(pod.spec)) {
        const why = unpinned(container.image);
        if (!why) continue;
        findings.push({
          app: app.app.name,
          check: "image",
          severity: "error",
          object: refOf(o),
          message: `${[pod.at, `${field}[${container.name}]`].filter(Boolean).join(".")}: ${why}: pin it by a ` +
            "version tag or a digest (in the chart's values or the manifest)",
        });
      }
    }
  }
  return findings;
}
