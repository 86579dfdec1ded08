/**
 * LoadBalancer addresses requested in the tree (a Service's `spec.loadBalancerIP` or
 * `lbipam.cilium.io/ips` annotation, a Gateway's `spec.addresses` or infrastructure annotation)
 * lie inside that environment's CiliumLoadBalancerIPPool blocks: Cilium would never assign one
 * outside them, and the Service would stay Pending.
 *
 * @module
 */

import type { Finding, KubeObject, Rendering } from "../render/model.ts";
import { refOf } from "../render/model.ts";

/** An IP address as a number and its family, or undefined when `text` is none. */
export function parseIp(text: string): { family: 4 | 6; value: bigint } | undefined {
  const t = text.trim();
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(t)) {
    const parts = t.split(".").map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return { family: 4, value: parts.reduce((a, p) => (a << 8n) + BigInt(p), 0n) };
  }
  if (t.includes(":") && /^[0-9a-f:]+$/i.test(t)) {
    const [head, tail] = t.split("::");
    if (t.split("::").length > 2) return undefined;
    const h = head ? head.split(":") : [];
    const tl = tail !== undefined && tail ? tail.split(":") : [];
    const missing = 8 - h.length - tl.length;
    if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
    const groups = [...h, ...Array(missing).fill("0"), ...tl];
    if (groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined;
    return { family: 6, value: groups.reduce((a, g) => (a << 16n) + BigInt(parseInt(g, 16)), 0n) };
  }
  return undefined;
}

/** A range of addresses. */
export interface Range {
  readonly family: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
  readonly text: string;
}

/** `10.0.0.0/24` as a range. */
export function parseCidr(text: string): Range | undefined {
  const [addr, bits] = text.split("/");
  const ip = parseIp(addr ?? "");
  const width = ip?.family === 4 ? 32 : 128;
  const n = bits === undefined ? width : Number(bits);
  if (!ip || !Number.isInteger(n) || n < 0 || n > width) return undefined;
  const host = (1n << BigInt(width - n)) - 1n;
  const first = ip.value & ~host;
  return { family: ip.family, first, last: first | host, text };
}

/** The address ranges of the rendering's CiliumLoadBalancerIPPools. */
function poolRanges(rendering: Rendering): Range[] {
  const ranges: Range[] = [];
  for (const app of rendering.apps) {
    for (const o of app.objects) {
      if (o.kind !== "CiliumLoadBalancerIPPool" || !o.apiVersion.startsWith("cilium.io/")) continue;
      const spec = (o.spec ?? {}) as { blocks?: Record<string, string>[]; cidrs?: Record<string, string>[] };
      for (const b of [...(spec.blocks ?? []), ...(spec.cidrs ?? [])]) {
        if (b.cidr) {
          const r = parseCidr(b.cidr);
          if (r) ranges.push(r);
        } else if (b.start) {
          const s = parseIp(b.start);
          const e = parseIp(b.stop ?? b.start);
          if (s && e && s.family === e.family) {
            ranges.push({ family: s.family, first: s.value, last: e.value, text: `${b.start}-${b.stop ?? b.start}` });
          }
        }
      }
    }
  }
  return ranges;
}

const ANNOTATIONS = ["lbipam.cilium.io/ips", "io.cilium/lb-ipam-ips"];

/** The addresses an object asks for, each with the field it is in. */
function requestedAddresses(o: KubeObject): { field: string; address: string }[] {
  const out: { field: string; address: string }[] = [];
  const fromAnnotations = (annotations: Record<string, unknown> | undefined, at: string) => {
    for (const a of ANNOTATIONS) {
      const v = annotations?.[a];
      if (typeof v === "string") {
        for (const ip of v.split(",").map((s) => s.trim()).filter(Boolean)) {
          out.push({ field: `${at}[${a}]`, address: ip });
        }
      }
    }
  };
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  if (o.kind === "Service" && o.apiVersion === "v1" && spec.type === "LoadBalancer") {
    if (typeof spec.loadBalancerIP === "string" && spec.loadBalancerIP) {
      out.push({ field: "spec.loadBalancerIP", address: spec.loadBalancerIP });
    }
    fromAnnotations(o.metadata.annotations, "metadata.annotations");
  }
  if (o.kind === "Gateway" && o.apiVersion.startsWith("gateway.networking.k8s.io/")) {
    for (const [i, a] of ((spec.addresses ?? []) as { type?: string; value?: string }[]).entries()) {
      if ((a.type ?? "IPAddress") === "IPAddress" && a.value) {
        out.push({ field: `spec.addresses[${i}]`, address: a.value });
      }
    }
    const infra = (spec.infrastructure ?? {}) as { annotations?: Record<string, unknown> };
    fromAnnotations(infra.annotations, "spec.infrastructure.annotations");
  }
  return out;
}

/** The LoadBalancer-address findings of a rendering. */
export function checkAddresses(rendering: Rendering): Finding[] {
  const ranges = poolRanges(rendering);
  const findings: Finding[] = [];
  for (const app of rendering.apps) {
    for (const o of app.objects) {
      for (const { field, address } of requestedAddresses(o)) {
        const ip = parseIp(address);
        let why: string | undefined;
        if (!ip) why = `'${address}' is not an IP address`;
        else if (!ranges.length) {
          why = `asks for ${address}, but the ${rendering.env} render has no CiliumLoadBalancerIPPool`;
        } else if (!ranges.some((r) => r.family === ip.family && ip.value >= r.first && ip.value <= r.last)) {
          why = `asks for ${address}, outside the ${rendering.env} LoadBalancer pool (${
            ranges.map((r) => r.text).join(", ")
          })`;
        }
        if (!why) continue;
        findings.push({
          app: app.app.name,
          check: "address",
          severity: "error",
          object: refOf(o),
          message: `${field} ${why}: Cilium would never assign it and the Service would stay Pending; pick an ` +
            "address inside the pool (or widen the pool)",
        });
      }
    }
  }
  return findings;
}
