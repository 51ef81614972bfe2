// The pane's formatters against the table of cases the core's text module is checked
// against too (crates/headroom-core/tests/format_cases.rs): the pane writes a percent, an
// amount, a duration and a clock time as the tray and the notifications do.
// Run by scripts/check-ui.sh: node --test ui/tests/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import * as fmt from "../format.js";

const cases = JSON.parse(readFileSync(new URL("../format-cases.json", import.meta.url), "utf8"));

test("percent, money and duration", () => {
  for (const [value, text] of cases.percent) assert.equal(fmt.percent(value), text, `percent(${value})`);
  for (const [amount, currency, text] of cases.money) {
    assert.equal(fmt.money(amount, currency), text, `money(${amount}, ${currency})`);
  }
  for (const [ms, text] of cases.duration) assert.equal(fmt.duration(ms), text, `duration(${ms})`);
});

test("clock times", () => {
  for (const c of cases.clock) {
    assert.equal(fmt.clock(c.at, c.now, c.zone), c.text, JSON.stringify(c));
    assert.equal(fmt.atClock(c.at, c.now, c.zone), c.at_text, JSON.stringify(c));
  }
});
