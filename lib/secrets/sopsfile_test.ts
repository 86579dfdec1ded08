import assert from "node:assert/strict";
import { parseSopsFile, plaintextSecrets, plaintextValues, skeleton } from "./sopsfile.ts";
import { parseSopsConfig, ruleFor, setRecipients } from "./sopsconfig.ts";

const ENC = "ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]";

Deno.test("plaintextValues finds values sops should have encrypted, by encrypted_regex", () => {
  const file = parseSopsFile(`kind: Secret
metadata:
  name: plain-is-fine
stringData:
  a: ${ENC}
  b: leaked
data:
  nested:
    - ${ENC}
    - also-leaked
sops:
  encrypted_regex: ^(data|stringData)$
  age:
    - recipient: age1xyz
`);
  assert.deepEqual(file.meta?.recipients, ["age1xyz"]);
  assert.deepEqual(plaintextValues(file), ["stringData.b", "data.nested.1"]);
});

Deno.test("without encrypted_regex every value must be ciphertext, except *_unencrypted keys", () => {
  const file = parseSopsFile(`a: ${ENC}\nb: 1\nnote_unencrypted: fine\nsops:\n  age: []\n`);
  assert.deepEqual(plaintextValues(file), ["b"]);
  assert.equal(parseSopsFile("a: b\n").meta, undefined);
});

Deno.test("skeleton keeps the structure and replaces ciphertext with placeholders (base64 under data)", () => {
  const file = parseSopsFile(
    `kind: Secret\nmetadata:\n  name: s\ndata:\n  k: ${ENC}\nstringData:\n  v: ${ENC}\nsops:\n  age: []\n`,
  );
  assert.deepEqual(skeleton(file), {
    kind: "Secret",
    metadata: { name: "s" },
    data: { k: btoa("REPLACE-ME") },
    stringData: { v: "REPLACE-ME" },
  });
});

Deno.test("plaintextSecrets ignores other kinds and empty or encrypted Secrets", () => {
  const text =
    `kind: Secret\nmetadata: {name: empty}\n---\nkind: ConfigMap\ndata: {a: b}\n---\nkind: Secret\nmetadata: {name: enc}\nstringData: {a: x}\nsops: {age: []}\n`;
  assert.deepEqual(plaintextSecrets(text), []);
});

const CONFIG = `# header
keys:
  - &personal age1old # mine
  - &argocd age1argo
creation_rules:
  - path_regex: ^talos/talsecret\\.sops\\.yaml$
    age:
      - *personal
  - path_regex: ^system/.+\\.sops\\.yaml$
    encrypted_regex: ^(data|stringData)$
    age: "age1a, age1b"
`;

Deno.test(".sops.yaml: anchors are read, rules resolved, the first match wins", () => {
  const c = parseSopsConfig(CONFIG);
  assert.equal(c.personal, "age1old");
  assert.deepEqual(ruleFor(c, "talos/talsecret.sops.yaml")?.recipients, ["age1old"]);
  assert.deepEqual(ruleFor(c, "system/x/y.sops.yaml")?.recipients, ["age1a", "age1b"]);
  assert.equal(ruleFor(c, "platform/x.sops.yaml"), undefined);
});

Deno.test(".sops.yaml: setting recipients changes only the anchor values and keeps comments", () => {
  const out = setRecipients(CONFIG, { personal: "age1new" });
  assert.equal(out, CONFIG.replace("age1old", "age1new"));
  assert.throws(() => parseSopsConfig("keys: [\n"), /\.sops\.yaml:\d+: /);
});
