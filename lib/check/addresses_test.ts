import assert from "node:assert/strict";
import { parseCidr, parseIp } from "./addresses.ts";
import { unpinned } from "./images.ts";

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
