import assert from "node:assert/strict";
import type { KubeObject, RenderedApp, Rendering } from "../render/model.ts";
import { checkAddresses, parseCidr, parseIp } from "./addresses.ts";
import { checkImages, unpinned } from "./images.ts";
import { renderedApp } from "../../tests/apps.ts";

const rendered = (name: string, objects: KubeObject[]): RenderedApp => renderedApp(name, objects);

Deno.test("parseIp and parseCidr: IPv4 and IPv6 ranges", () => {
  assert.equal(parseIp("10.40.0.80")?.value, (10n << 24n) + (40n << 16n) + 80n);
  assert.equal(parseIp("10.40.0.256"), undefined);
  assert.equal(parseIp("host.example"), undefined);
  const r = parseCidr("10.40.0.0/24")!;
  assert.equal(r.last - r.first, 255n);
  assert.equal(parseCidr("10.40.0.7/24")!.first, r.first);
  const v6 = parseCidr("fd00::/120")!;
  assert.equal(v6.family, 6);
  assert.equal(v6.last - v6.first, 255n);
  assert.equal(parseIp("fd00::ff")!.value, v6.last);
  assert.equal(parseCidr("10.0.0.0/33"), undefined);
});

Deno.test("unpinned: a tag other than latest, or a digest", () => {
  assert.equal(unpinned("ghcr.io/example/web:1.2.3"), undefined);
  assert.equal(unpinned("localhost:5000/web:1.2.3"), undefined);
  assert.equal(unpinned(`web@sha256:${"a".repeat(64)}`), undefined);
  assert.match(unpinned("busybox")!, /has no tag/);
  assert.match(unpinned("localhost:5000/web")!, /has no tag/);
  assert.match(unpinned("nginx:latest")!, /tagged latest/);
  assert.match(unpinned(undefined)!, /has no image/);
});

Deno.test("checkImages: init, regular and ephemeral containers of every pod template", () => {
  const pod = (spec: Record<string, unknown>) => ({ containers: [{ name: "app", image: "web:1.0.0" }], ...spec });
  const objects: KubeObject[] = [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: { template: { spec: pod({ initContainers: [{ name: "migrate", image: "migrate" }] }) } },
    },
    {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "tidy" },
      spec: {
        jobTemplate: {
          spec: { template: { spec: pod({ initContainers: [{ name: "wait", image: "busybox:latest" }] }) } },
        },
      },
    },
    { apiVersion: "v1", kind: "Pod", metadata: { name: "debug" }, spec: pod({ ephemeralContainers: [{ name: "x" }] }) },
  ];
  assert.deepEqual(
    checkImages(rendered("web", objects)).map((f) => `${f.object?.name} ${f.message.split(": pin")[0]}`),
    [
      "web spec.template.initContainers[migrate]: image 'migrate' has no tag (that means latest)",
      "tidy spec.jobTemplate.spec.template.initContainers[wait]: image 'busybox:latest' is tagged latest",
      "debug ephemeralContainers[x]: has no image",
    ],
  );
  const pinned = JSON.parse(JSON.stringify(objects[0]).replace('"image":"migrate"', '"image":"migrate:2.1.0"'));
  assert.deepEqual(checkImages(rendered("web", [pinned])), []);
});

Deno.test("checkAddresses: an address lies in a pool of its own IP family", () => {
  const pool = (blocks: Record<string, string>[]): KubeObject => ({
    apiVersion: "cilium.io/v2",
    kind: "CiliumLoadBalancerIPPool",
    metadata: { name: "pool" },
    spec: { blocks },
  });
  const service = (ips: string): KubeObject => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "dns", namespace: "dns", annotations: { "lbipam.cilium.io/ips": ips } },
    spec: { type: "LoadBalancer", ports: [{ port: 53 }] },
  });
  const check = (blocks: Record<string, string>[], ips: string) => {
    const r: Rendering = {
      env: "prod",
      root: [],
      apps: [rendered("cilium", [pool(blocks)]), rendered("dns", [service(ips)])],
    };
    return checkAddresses(r).map((f) => f.message.split(": Cilium")[0]);
  };
  assert.deepEqual(check([{ cidr: "10.40.0.0/24" }], "10.40.0.80"), []);
  assert.deepEqual(check([{ cidr: "fd00:40::/120" }], "fd00:40::50"), []);
  // ::a28:50 is 10.40.0.80 as a number: still an IPv6 address, outside an IPv4 pool.
  assert.deepEqual(check([{ cidr: "10.40.0.0/24" }], "::a28:50"), [
    "metadata.annotations[lbipam.cilium.io/ips] asks for ::a28:50, outside the prod LoadBalancer pool (10.40.0.0/24)",
  ]);
  // And an IPv4 address is not in an IPv6 pool that holds its number.
  assert.equal(check([{ cidr: "::/96" }], "10.40.0.80").length, 1);
  assert.equal(check([{ start: "::a28:0", stop: "::a28:ff" }], "10.40.0.80").length, 1);
  // Dual stack: each address in the pool of its family.
  assert.deepEqual(check([{ cidr: "10.40.0.0/24" }, { cidr: "fd00:40::/120" }], "10.40.0.80,fd00:40::50"), []);
  assert.equal(check([{ cidr: "10.40.0.0/24" }, { cidr: "fd00:40::/120" }], "10.40.0.80,fd00:41::50").length, 1);
  // A range whose ends are of two families is no range.
  assert.equal(check([{ start: "10.40.0.0", stop: "::a28:ff" }], "10.40.0.80").length, 1);
});
