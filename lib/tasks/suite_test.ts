import assert from "node:assert/strict";
import { countJunit } from "./suite.ts";

Deno.test("countJunit counts passed, failed and skipped test cases", () => {
  const xml = `<testsuites><testsuite name="a">
<testcase name="ok one" time="0.1"/>
<testcase name="ok two" time="0.1"></testcase>
<testcase name="broken"><failure message="boom">trace</failure></testcase>
<testcase name="errored"><error message="x"/></testcase>
<testcase name="ignored"><skipped/></testcase>
</testsuite></testsuites>`;
  assert.deepEqual(countJunit(xml), { passed: 2, failed: 2 });
  assert.deepEqual(countJunit("<testsuites/>"), { passed: 0, failed: 0 });
});
