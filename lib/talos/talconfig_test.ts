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
// The repository's own talconfig as a fixture, with the talenv it is written for: the cases below
// edit its literal addresses, which differ from one owner's site.yaml to the next.
const TALCONFIG = Deno.readTextFileSync(`${REPO}tests/fixtures/talconfig/valid/repository.yaml`);
const TALENV = parseEnv(Deno.readTextFileSync(`${REPO}tests/fixtures/talconfig/talenv.yaml`), "talenv.yaml");

Deno.test("talconfig: a VIP or node address on the neighbouring /24 is rejected", () => {
  const own = parseEnv(Deno.readTextFileSync(`${REPO}talos/talenv.yaml`), "talos/talenv.yaml");
  const ownText = Deno.readTextFileSync(`${REPO}talos/talconfig.yaml`);
  assert.deepEqual(checkTalconfig(ownText, own).problems, [], "the repository's own talconfig passes");
  assert.deepEqual(checkTalconfig(TALCONFIG, TALENV).problems, [], "so does the fixture");
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

Deno.test("talconfig: each rule names its problem and the line it is on", () => {
  const cases: {
    name: string;
    from?: string;
    to?: string;
    env?: Record<string, string>;
    want: RegExp;
    line?: string;
  }[] = [
    {
      name: "Kubernetes too old",
      from: "kubernetesVersion: v1.37.2",
      to: "kubernetesVersion: v1.31.9",
      want: /^Kubernetes v1\.31\.9 is too old for Talos v1\.14\.0 \(it supports 1\.32\.0 to 1\.37\.x\)$/,
      line: "kubernetesVersion: v1.31.9",
    },
    {
      name: "an unknown Talos minor",
      from: "talosVersion: v1.14.0",
      to: "talosVersion: v1.15.0",
      want: /^Talos v1\.15\.0 is not one this tooling knows \(v1\.12, v1\.13, v1\.14\)$/,
      line: "talosVersion: v1.15.0",
    },
    {
      name: "a version without its patch",
      from: "talosVersion: v1.14.0",
      to: "talosVersion: v1.14",
      want: /^talosVersion 'v1\.14' is not vX\.Y\.Z$/,
    },
    {
      name: "an invalid hostname",
      from: "hostname: node-2",
      to: "hostname: Node_2",
      want: /^node 2 has an invalid hostname 'Node_2'$/,
      line: "- hostname: Node_2",
    },
    {
      name: "an invalid address",
      from: "ipAddress: 192.168.1.42",
      to: "ipAddress: 192.168.1.420",
      want: /^node 'node-2' has an invalid ipAddress '192\.168\.1\.420'$/,
      line: "ipAddress: 192.168.1.420",
    },
    {
      name: "no control plane",
      from: "controlPlane: true",
      to: "controlPlane: false",
      want: /^no node is a control plane$/,
    },
    {
      name: "two VIPs",
      from: "    controlPlane: true\n    installDiskSelector:\n      type: nvme\n  - hostname: node-3",
      to: "    controlPlane: true\n    networkInterfaces: [{deviceSelector: {physical: true}, dhcp: true, " +
        "vip: {ip: 192.168.1.50}}]\n    installDiskSelector:\n      type: nvme\n  - hostname: node-3",
      want: /^control planes name different VIPs: 192\.168\.1\.40, 192\.168\.1\.50$/,
    },
    {
      name: "an endpoint without the port",
      from: "endpoint: https://${CLUSTER_VIP}:6443",
      to: "endpoint: https://${CLUSTER_VIP}",
      want: /^endpoint https:\/\/192\.168\.1\.40 is not on the VIP 192\.168\.1\.40$/,
      line: "endpoint: https://${CLUSTER_VIP}",
    },
    { name: "no LAN_SUBNET", env: { LAN_SUBNET: "" }, want: /^LAN_SUBNET is not set$/ },
    { name: "no nodes", from: /\nnodes:[\s\S]*$/.exec(TALCONFIG)![0], to: "\nnodes: []\n", want: /^nodes is empty$/ },
  ];
  for (const c of cases) {
    const text = c.from === undefined ? TALCONFIG : TALCONFIG.replaceAll(c.from, c.to!);
    assert.notEqual(text === TALCONFIG, c.from !== undefined, `${c.name}: the replacement did not apply`);
    const problems = checkTalconfig(text, { ...TALENV, ...c.env }).problems;
    assert.equal(problems.length, 1, `${c.name}: ${JSON.stringify(problems)}`);
    assert.match(problems[0].message, c.want, c.name);
    assert.ok(problems[0].fix, `${c.name}: no fix given`);
    if (c.line) assert.equal(text.split("\n")[(problems[0].line ?? 0) - 1]?.trim(), c.line, `${c.name}: line`);
  }
  // The bounds are inclusive: the oldest and the newest supported Kubernetes pass.
  for (const v of ["v1.32.0", "v1.37.99"]) {
    assert.deepEqual(
      checkTalconfig(TALCONFIG.replace("kubernetesVersion: v1.37.2", `kubernetesVersion: ${v}`), TALENV).problems,
      [],
      v,
    );
  }
  // An endpoint with a trailing slash is the same endpoint.
  assert.deepEqual(checkTalconfig(TALCONFIG.replace(":6443\n", ":6443/\n"), TALENV).problems, []);
});
