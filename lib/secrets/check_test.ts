import assert from "node:assert/strict";
import { checkText } from "./check.ts";
import { parseSopsConfig } from "./sopsconfig.ts";

const plaintext = (file: string, text: string) =>
  checkText(file, text, undefined).filter((f) => f.level === "error" && /plaintext Secret/.test(f.reason));

Deno.test("check: a plaintext Secret with base64 data is refused like one with stringData", () => {
  const text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  password: aHVudGVyMg==\n";
  const found = plaintext("system/demo/db.yaml", text);
  assert.equal(found.length, 1, "a Secret with `data:` passed the check");
  assert.match(found[0].reason, /plaintext Secret 'db'/);
  assert.equal(found[0].line, 6, "the line of data:");
  assert.ok(!found[0].reason.includes("aHVudGVyMg=="), "the value is not repeated");
});

Deno.test("check: plaintext Secrets in *.yml files of every stack are refused, not only *.yaml", () => {
  for (const stack of ["system", "platform", "apps", "root"]) {
    const file = `${stack}/demo/secret.yml`;
    const found = plaintext(file, "kind: Secret\nmetadata:\n  name: s\nstringData:\n  a: b\n");
    assert.equal(found.length, 1, `${file} was not scanned`);
    assert.equal(found[0].file, file);
  }
  // Outside the stacks, and in files that are not YAML, no Secret is looked for.
  assert.deepEqual(plaintext("docs/secret.yml", "kind: Secret\nstringData:\n  a: b\n"), []);
  assert.deepEqual(plaintext("system/demo/notes.txt", "kind: Secret\nstringData:\n  a: b\n"), []);
  assert.deepEqual(plaintext("systemd/demo/s.yaml", "kind: Secret\nstringData:\n  a: b\n"), []);
});

Deno.test("check: a Secret written with a comment after its kind, in flow style or quoted is still found", () => {
  const cases: Record<string, string> = {
    comment: "kind: Secret # the database password\nmetadata:\n  name: c\nstringData:\n  password: hunter2\n",
    flow: "{apiVersion: v1, kind: Secret, metadata: {name: f}, data: {password: aHVudGVyMg==}}\n",
    json: '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j"}, "stringData": {"p": "x"}}\n',
    quoted: "kind: 'Secret'\nmetadata:\n  name: q\nstringData:\n  p: x\n",
    second:
      "kind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n---\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: Yg==\n",
  };
  for (const [name, text] of Object.entries(cases)) {
    const found = plaintext(`system/demo/${name}.yaml`, text);
    assert.equal(found.length, 1, `the ${name} Secret passed the check`);
  }
  assert.equal(
    plaintext("system/demo/second.yaml", cases.second)[0].line,
    10,
    "the line of the second document's data:",
  );
});

Deno.test("check: empty, encrypted and non-Secret documents are not refused", () => {
  const ok = [
    "kind: Secret\nmetadata:\n  name: empty\ndata: {}\n",
    "kind: Secret\nmetadata:\n  name: none\n",
    "kind: ConfigMap\nmetadata:\n  name: c\ndata:\n  password: not-a-secret-kind\n",
    "kind: SecretStore\nmetadata:\n  name: s\nspec: {}\n",
    "kind: Secret\nstringData: {a: x}\nsops: {age: []}\n",
  ];
  for (const text of ok) assert.deepEqual(plaintext("system/demo/x.yaml", text), [], text);
});

Deno.test("check: *.sops.yml and *.sops.json are judged as encrypted files", () => {
  for (const file of ["system/demo/s.sops.yml", "system/demo/s.sops.json"]) {
    const text = file.endsWith(".json")
      ? '{"kind": "Secret", "stringData": {"a": "b"}}'
      : "kind: Secret\nstringData:\n  a: b\n";
    const found = checkText(file, text, undefined);
    assert.equal(found.length, 1, file);
    assert.match(found[0].reason, /not encrypted \(no sops metadata\)/);
  }
});

Deno.test("check: an encrypted file for other recipients than its rule is a warning; no rule at all an error", () => {
  const config = parseSopsConfig(
    "keys:\n  - &personal age1me\n  - &argocd age1argo\ncreation_rules:\n" +
      "  - path_regex: ^system/.+\\.sops\\.ya?ml$\n    age:\n      - *personal\n      - *argocd\n",
  );
  const enc = "ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]";
  const file = (recipients: string[]) =>
    `kind: Secret\nstringData:\n  a: ${enc}\nsops:\n  encrypted_regex: ^(data|stringData)$\n  age:\n` +
    recipients.map((r) => `    - recipient: ${r}\n      enc: "x\\n-----END AGE ENCRYPTED FILE-----\\n"\n`).join("") +
    `  lastmodified: "2026-01-01T00:00:00Z"\n  mac: ${enc}\n  version: 3.11.0\n`;
  assert.deepEqual(checkText("system/demo/s.sops.yaml", file(["age1argo", "age1me"]), config), []);
  const stale = checkText("system/demo/s.sops.yaml", file(["age1me"]), config);
  assert.deepEqual(stale.map((f) => f.level), ["warning"]);
  assert.match(stale[0].fix, /secrets rotate/);
  const orphan = checkText("elsewhere/s.sops.yaml", file(["age1me", "age1argo"]), config);
  assert.deepEqual(orphan.map((f) => f.level), ["error"]);
  assert.match(orphan[0].reason, /matches no creation rule/);
});
