import assert from "node:assert/strict";
import type { AppSpec, RenderedApp } from "../render/model.ts";
import { checkStability, jqPattern, uncovered } from "./stability.ts";

function spec(extra: Partial<AppSpec> = {}): AppSpec {
  return {
    name: "app",
    path: "system/app",
    namespace: "app",
    syncOptions: [],
    ignoreDifferences: [],
    application: { apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name: "app" } },
    ...extra,
  };
}

Deno.test("jqPattern: the path forms ignoreDifferences uses", () => {
  assert.deepEqual(jqPattern(".webhooks[]?.clientConfig.caBundle"), ["webhooks", "*", "clientConfig", "caBundle"]);
  assert.deepEqual(jqPattern(".spec.template.metadata.annotations"), ["spec", "template", "metadata", "annotations"]);
  assert.deepEqual(jqPattern('.metadata.annotations["checksum/config"]'), [
    "metadata",
    "annotations",
    "checksum/config",
  ]);
  assert.deepEqual(jqPattern(".data[0]"), ["data", "0"]);
  assert.deepEqual(jqPattern('.webhooks[] | select(.name == "x") | .clientConfig.caBundle'), [
    "webhooks",
    "*",
    "clientConfig",
    "caBundle",
  ]);
  assert.equal(jqPattern("webhooks"), undefined);
  assert.equal(jqPattern(".a + 1"), undefined);
});

Deno.test("uncovered: pointers, jq paths, matching by group, kind and name", () => {
  const ref = { apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration", name: "hook" };
  const app = spec({
    ignoreDifferences: [
      {
        group: "admissionregistration.k8s.io",
        kind: "MutatingWebhookConfiguration",
        jqPathExpressions: [".webhooks[]?.clientConfig.caBundle"],
      },
    ],
  });
  assert.deepEqual(uncovered(app, ref, ["/webhooks/0/clientConfig/caBundle", "/webhooks/1/clientConfig/caBundle"]), []);
  assert.deepEqual(uncovered(app, ref, ["/webhooks/0/clientConfig/service/name"]), [
    "/webhooks/0/clientConfig/service/name",
  ]);
  // Another kind, another group, another name: not covered.
  assert.deepEqual(
    uncovered(app, { ...ref, kind: "ValidatingWebhookConfiguration" }, ["/webhooks/0/clientConfig/caBundle"]).length,
    1,
  );
  const secret = { apiVersion: "v1", kind: "Secret", namespace: "app", name: "tls" };
  const named = spec({ ignoreDifferences: [{ group: "", kind: "Secret", name: "other", jsonPointers: ["/data"] }] });
  assert.deepEqual(uncovered(named, secret, ["/data/tls.crt"]), ["/data/tls.crt"]);
  const mine = spec({ ignoreDifferences: [{ group: "", kind: "Secret", name: "tls", jsonPointers: ["/data"] }] });
  assert.deepEqual(uncovered(mine, secret, ["/data/tls.crt", "/data/tls.key"]), []);
  // An object present in one build only is never covered.
  assert.deepEqual(uncovered(mine, secret, [""]), [""]);
});

Deno.test("checkStability: needs both the covering entry and RespectIgnoreDifferences=true", () => {
  const unstable = [{
    ref: { apiVersion: "v1", kind: "Secret", namespace: "app", name: "tls" },
    pointers: ["/data/tls.crt"],
  }];
  const rendered = (app: AppSpec): RenderedApp => ({ app, objects: [], secrets: "digest", unstable, cached: false });
  const entry = { group: "", kind: "Secret", name: "tls", jsonPointers: ["/data"] };
  const none = checkStability(rendered(spec()));
  assert.equal(none.length, 1);
  assert.match(none[0].message, /renders differently from identical inputs at \/data\/tls\.crt/);
  assert.match(none[0].message, /jsonPointers: \["\/data\/tls.crt"\]|jsonPointers: \["\/data"\]/);
  const noRespect = checkStability(rendered(spec({ ignoreDifferences: [entry] })));
  assert.equal(noRespect.length, 1);
  assert.match(noRespect[0].message, /without RespectIgnoreDifferences=true/);
  assert.deepEqual(
    checkStability(rendered(spec({ ignoreDifferences: [entry], syncOptions: ["RespectIgnoreDifferences=true"] }))),
    [],
  );
});

Deno.test("checkStability: RespectIgnoreDifferences=false, or an entry for another group, ignores nothing", () => {
  const unstable = [{
    ref: { apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", name: "hook" },
    pointers: ["/webhooks/0/clientConfig/caBundle"],
  }];
  const rendered = (app: AppSpec): RenderedApp => ({ app, objects: [], secrets: "digest", unstable, cached: false });
  const entry = {
    group: "admissionregistration.k8s.io",
    kind: "ValidatingWebhookConfiguration",
    jqPathExpressions: [".webhooks[]?.clientConfig.caBundle"],
  };
  const respect = ["RespectIgnoreDifferences=true"];
  assert.deepEqual(checkStability(rendered(spec({ ignoreDifferences: [entry], syncOptions: respect }))), []);
  // Set, but to false: every sync overwrites the field again.
  for (const syncOptions of [["RespectIgnoreDifferences=false"], ["RespectIgnoreDifferences"], []]) {
    const found = checkStability(rendered(spec({ ignoreDifferences: [entry], syncOptions })));
    assert.equal(found.length, 1, `syncOptions ${JSON.stringify(syncOptions)}`);
    assert.match(found[0].message, /without RespectIgnoreDifferences=true/);
  }
  // The same kind, name and path in another API group (or the core group) is another object.
  for (const group of ["", "example.com", "admissionregistration.k8s.io/v1"]) {
    const found = checkStability(rendered(spec({ ignoreDifferences: [{ ...entry, group }], syncOptions: respect })));
    assert.equal(found.length, 1, `group '${group}'`);
    assert.match(
      found[0].message,
      /renders differently from identical inputs at \/webhooks\/0\/clientConfig\/caBundle/,
    );
  }
  // No group at all means the core group: it covers a core object, not this one.
  const { group: _, ...coreEntry } = entry;
  assert.equal(checkStability(rendered(spec({ ignoreDifferences: [coreEntry], syncOptions: respect }))).length, 1);
  const secret = [{ ref: { apiVersion: "v1", kind: "Secret", namespace: "app", name: "tls" }, pointers: ["/data/x"] }];
  const core = { kind: "Secret", name: "tls", jsonPointers: ["/data"] };
  assert.deepEqual(
    checkStability({ ...rendered(spec({ ignoreDifferences: [core], syncOptions: respect })), unstable: secret }),
    [],
  );
  assert.equal(
    checkStability({
      ...rendered(spec({ ignoreDifferences: [{ ...core, group: "apps" }], syncOptions: respect })),
      unstable: secret,
    }).length,
    1,
  );
});
