import assert from "node:assert/strict";
import { checkTalconfig, cidr, inSubnet, ipv4, parseEnv } from "./talconfig.ts";

const within = (ip: string, net: string) => inSubnet(ipv4(ip)!, cidr(net)!);

Deno.test("subnet arithmetic: /0 holds every address", () => {
  for (const ip of ["0.0.0.0", "10.0.0.1", "192.168.2.40", "255.255.255.255"]) {
    assert.ok(within(ip, "192.168.1.0/0"), `${ip} in /0`);
  }
});

Deno.test("subnet arithmetic: /16 compares the first two octets only", () => {
  assert.ok(within("192.168.0.0", "192.168.0.0/16"));
  assert.ok(within("192.168.255.255", "192.168.0.0/16"));
  assert.ok(within("192.168.2.40", "192.168.1.0/16"), "a /16 given by a host address still means the whole /16");
  assert.ok(!within("192.169.1.40", "192.168.0.0/16"), "second octet");
  assert.ok(!within("193.168.1.40", "192.168.0.0/16"), "first octet");
});

Deno.test("subnet arithmetic: /24 compares three octets, not only the first", () => {
  assert.ok(within("192.168.1.0", "192.168.1.0/24"));
  assert.ok(within("192.168.1.255", "192.168.1.0/24"));
  assert.ok(within("192.168.1.40", "192.168.1.77/24"), "the network may be written with a host address");
  assert.ok(!within("192.168.2.40", "192.168.1.0/24"), "third octet");
  assert.ok(!within("192.167.1.40", "192.168.1.0/24"), "second octet");
  assert.ok(!within("10.168.1.40", "192.168.1.0/24"), "first octet");
});

Deno.test("subnet arithmetic: /32 holds exactly one address; odd prefixes split octets", () => {
  assert.ok(within("192.168.1.40", "192.168.1.40/32"));
  assert.ok(!within("192.168.1.41", "192.168.1.40/32"));
  assert.ok(!within("192.168.1.39", "192.168.1.40/32"));
  // /1 and /31 exercise the sign bit and the last bit of the 32-bit arithmetic.
  assert.ok(within("127.255.255.255", "0.0.0.0/1") && !within("128.0.0.0", "0.0.0.0/1"));
  assert.ok(within("200.1.1.1", "128.0.0.0/1") && !within("127.0.0.1", "128.0.0.0/1"));
  assert.ok(within("192.168.1.41", "192.168.1.40/31") && !within("192.168.1.42", "192.168.1.40/31"));
  assert.ok(within("192.168.1.127", "192.168.1.64/26") && !within("192.168.1.128", "192.168.1.64/26"));
});

Deno.test("cidr and ipv4 refuse what is not an IPv4 network or address", () => {
  assert.deepEqual(cidr("192.168.1.0/24"), { base: ipv4("192.168.1.0"), bits: 24 });
  assert.deepEqual(cidr("0.0.0.0/0"), { base: 0, bits: 0 });
  assert.deepEqual(cidr("255.255.255.255/32"), { base: 0xffffffff, bits: 32 });
  for (const bad of ["192.168.1.0", "192.168.1.0/", "192.168.1.0/33", "192.168.1.0/-1", "192.168.1.0/0x18"]) {
    assert.equal(cidr(bad), undefined, bad);
  }
  for (const bad of ["192.168.1.0/24/8", "192.168.1.0/ 24", "192.168.1/24", "192.168.1.256/24", "/24", ""]) {
    assert.equal(cidr(bad), undefined, bad);
  }
  for (const bad of ["192.168.1", "192.168.1.1.1", "1.2.3.-4", "a.b.c.d", " 192.168.1.1"]) {
    assert.equal(ipv4(bad), undefined, bad);
  }
});

const REPO = new URL("../..", import.meta.url).pathname;
const TALCONFIG = Deno.readTextFileSync(`${REPO}talos/talconfig.yaml`);
const TALENV = parseEnv(Deno.readTextFileSync(`${REPO}talos/talenv.yaml`), "talos/talenv.yaml");

Deno.test("talconfig: a VIP or node address on the neighbouring /24 is rejected", () => {
  assert.deepEqual(checkTalconfig(TALCONFIG, TALENV).problems, [], "the repository's own talconfig passes");
  assert.equal(TALENV.LAN_SUBNET, "192.168.1.0/24");

  const vip = checkTalconfig(TALCONFIG, { ...TALENV, CLUSTER_VIP: "192.168.2.40" }).problems;
  assert.deepEqual(
    vip.map((p) => p.message),
    ["the VIP 192.168.2.40 is outside LAN_SUBNET 192.168.1.0/24: nodes could not announce it"],
  );

  const moved = TALCONFIG.replace("ipAddress: 192.168.1.43", "ipAddress: 192.168.11.43");
  const node = checkTalconfig(moved, TALENV);
  assert.deepEqual(node.problems.map((p) => p.message), [
    "node 'node-3' address 192.168.11.43 is outside LAN_SUBNET 192.168.1.0/24",
  ]);
  assert.equal(moved.split("\n")[(node.problems[0].line ?? 0) - 1].trim(), "ipAddress: 192.168.11.43");

  // A wider LAN takes them in.
  assert.deepEqual(
    checkTalconfig(TALCONFIG, { ...TALENV, LAN_SUBNET: "192.168.0.0/16", CLUSTER_VIP: "192.168.2.40" }).problems,
    [],
  );
});

Deno.test("talconfig: a LAN_SUBNET that is not a CIDR is a problem, not a subnet that holds everything", () => {
  for (const bad of ["192.168.1.0/", "192.168.1.0", "192.168.1.0/33", "192.168.1.0/24/8"]) {
    const problems = checkTalconfig(TALCONFIG, { ...TALENV, LAN_SUBNET: bad }).problems;
    assert.deepEqual(problems.map((p) => p.message), [`LAN_SUBNET is '${bad}', not a CIDR`], bad);
    assert.match(problems[0].fix, /talos\/talenv\.yaml/);
  }
});
