/**
 * No plaintext Secret: every value of a rendered Secret comes from KSOPS (in a render it is the
 * digest of the decrypted value, or the placeholder when no key opened the file). Any other
 * value was written into the tree (a manifest, a values file) in plain text. Secrets a chart
 * generates at render time differ between builds and are the stability check's business.
 *
 * @module
 */

import { type Finding, refOf, type RenderedApp, showRef } from "../render/model.ts";
import { PLACEHOLDER } from "../render/ksops.ts";

const DIGEST = /^sha256:[0-9a-f]{16}$/;

function decoded(value: string): string {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(value.replace(/\s+/g, "")), (c) => c.charCodeAt(0)));
  } catch {
    return value;
  }
}

/** The plaintext-Secret findings of one app. */
export function checkSecrets(app: RenderedApp): Finding[] {
  const findings: Finding[] = [];
  const unstable = new Set((app.unstable ?? []).map((u) => showRef(u.ref)));
  for (const o of app.objects) {
    if (o.kind !== "Secret" || o.apiVersion !== "v1" || unstable.has(showRef(refOf(o)))) continue;
    const plain: string[] = [];
    for (const field of ["data", "stringData"] as const) {
      const values = o[field];
      if (!values || typeof values !== "object") continue;
      for (const [k, v] of Object.entries(values as Record<string, unknown>)) {
        const text = field === "data" ? decoded(String(v ?? "")) : String(v ?? "");
        if (text === "" || DIGEST.test(text) || text === PLACEHOLDER) continue;
        plain.push(`${field}.${k}`);
      }
    }
    if (!plain.length) continue;
    findings.push({
      app: app.app.name,
      check: "secret",
      severity: "error",
      object: refOf(o),
      message: `holds plaintext (${plain.join(", ")}) that is not from a SOPS file: anyone with the repository ` +
        `reads it. Move it into an encrypted file (\`deno task secrets new ${app.app.path} NAME\`) served by KSOPS, ` +
        "or let the chart reference an existing Secret",
    });
  }
  return findings;
}
