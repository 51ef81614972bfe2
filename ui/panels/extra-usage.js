// @ts-check
// The Extra Usage section: the switch, the cap, what the account reports, and every change
// to the account through the confirmation dialog.
//
// Every change to the account goes: prepare_extra_usage (the app checks the input and says
// what will happen, in the core's words) → the dialog (Cancel, Escape or the typed amount
// for big caps) → apply_extra_usage with the dialog's one-time token (the app writes, reads
// the account back and says what it now reports). The page never writes by itself: without
// a token from a dialog the user confirmed, the app refuses.

import * as ipc from "../ipc.js";
import * as fmt from "../format.js";
import { $, $button, $input, busy, capitalise, setStatus, showError, text } from "../dom.js";
import { applySettings, chosenCap, reloadSettings, saveSettings, snapshot, state, zone } from "../state.js";
import { renderNow } from "./now.js";

/** @typedef {import("../ipc-types").Applied} Applied */
/** @typedef {import("../ipc-types").Plan} Plan */
/** @typedef {import("../ipc-types").ExtraUsageState} ExtraUsageState */
/** @typedef {import("../ipc").Commands["prepare_extra_usage"]["args"]} Change */

/**
 * @type {{
 *   busy: boolean, result: Applied | null,
 *   failure: { message: string, browser_url: string | null, may_have_changed: boolean } | null,
 *   lastChange: Change | null, capTouched: boolean,
 * }}
 */
const eu = {
  busy: false,      // a change is being written
  result: null,     // apply_extra_usage's answer
  failure: null,    // why the last change failed, and the account's page when it can help
  lastChange: null, // what the user last asked for (the browser fallback repeats it)
  capTouched: false, // the cap field was focused or edited since it was last filled
};

function accountExtraUsage() {
  return snapshot().extra_usage ?? null;
}

export function renderExtraUsage() {
  const account = accountExtraUsage();
  const cur = account?.currency || "USD";
  text("cap-currency", fmt.money(0, cur).replace(/[\d.,\s]/g, "") || cur);
  const sw = $input("extra-usage-switch");
  const on = account?.enabled === true;
  if (state.waiting && on) {
    state.waiting = false;
    state.confirmedAt = Date.now();
  }
  sw.checked = on || state.waiting;
  sw.disabled = eu.busy;
  if (eu.busy) {
    setStatus("extra-usage-status", "Changing your account…", "waiting");
  } else if (state.waiting) {
    setStatus("extra-usage-status", "Waiting for your account to confirm… Finish on the page that opened in your browser.", "waiting");
  } else if (state.confirmedAt && on) {
    setStatus("extra-usage-status", `Extra Usage is on: your account confirmed it at ${fmt.clock(state.confirmedAt, Date.now(), zone())}.`, "ok");
  } else if (on) {
    setStatus("extra-usage-status", "On in your account.", "ok");
  } else if (eu.failure?.may_have_changed) {
    setStatus("extra-usage-status", "Not known: your last change may or may not have been made.", "waiting");
  } else if (account?.enabled === false) {
    // The core's words for the account's reason (`extra_usage_off_reason`), never its API code.
    const why = state.overview?.extra_usage_off_reason;
    setStatus("extra-usage-status", why ? `Off in your account: ${why}` : "Off in your account.", "");
  } else {
    setStatus("extra-usage-status", "Your account has not reported Extra Usage yet.", "");
  }

  const noCap = $input("no-cap");
  const capInput = $input("cap-input");
  capInput.disabled = noCap.checked || eu.busy;
  noCap.disabled = eu.busy;
  // With Extra Usage on, the cap is the account's, changed through the dialog; off, it is
  // only remembered for when it is turned on.
  const save = $button("cap-save");
  save.textContent = on ? "Change cap" : "Save cap";
  save.disabled = eu.busy || (!on && noCap.checked);

  const scripts = $input("scripts-max-cap");
  const allowed = state.settings?.extra_usage.scripts_max_cap ?? null;
  if (document.activeElement !== scripts) scripts.value = allowed != null ? allowed.toFixed(2) : "";

  const chosen = chosenCap();
  text("chosen-cap", chosen != null ? fmt.money(chosen, cur) : "none");
  // Filled from the settings only while the user has not touched the field: a refresh that
  // lands between clearing it and typing must not put the old cap back (it did, and the
  // typed digits were appended to it).
  if (chosen != null && !eu.capTouched && document.activeElement !== capInput && capInput.value === "") {
    capInput.value = chosen.toFixed(2);
  }
  text("account-cap", !account || account.enabled == null ? "unknown" : account.enabled === false ? "off" : typeof account.monthly_limit === "number" ? fmt.money(account.monthly_limit, cur) : "no cap");
  text("account-spend", typeof account?.used === "number" ? fmt.money(account.used, cur) + (typeof account.monthly_limit === "number" && account.monthly_limit > 0 ? ` (${fmt.percent((account.used / account.monthly_limit) * 100)} of the cap)` : "") : "unknown");
  text("account-balance", typeof account?.balance === "number" ? fmt.money(account.balance, cur) : "unknown");

  $("extra-usage-progress").hidden = !eu.busy;
  const result = eu.result;
  $("extra-usage-answer-lost").hidden = !result?.answer_lost;
  if (result?.answer_lost) text("extra-usage-answer-lost", `${result.answer_lost} Your account, read again, says:`);
  $("extra-usage-result").hidden = !result?.message;
  if (result?.message) text("extra-usage-result", result.message);
  // The account's word either way; amber when it is not what was asked.
  $("extra-usage-result").className = `result ${result?.difference ? "warn" : "ok"}`;
  $("extra-usage-difference").hidden = !result?.difference;
  if (result?.difference) text("extra-usage-difference", result.difference);
  $("extra-usage-error").hidden = !eu.failure;
  if (eu.failure) text("extra-usage-error-text", eu.failure.message);
  // The change may or may not have been made: no advice that assumes either (audit N2).
  $("extra-usage-may-have-changed").hidden = !eu.failure?.may_have_changed;
  // The account's page, where the app says it can do what the app could not.
  $button("extra-usage-browser").hidden = !eu.failure?.browser_url;

  // Same rule as the core's extra_usage::cap_mismatch, so the warning follows a cap the user
  // has just saved without waiting for the next refresh; in the pane's words (the core's
  // sentence names the CLI command; here Change cap is beside it). Not while a write's own
  // difference says it better.
  let mismatch = null;
  if (!result?.difference && chosen != null && on) {
    if (typeof account.monthly_limit !== "number") {
      mismatch = `Your account has no monthly cap, but you chose ${fmt.money(chosen, cur)}.`;
    } else if (Math.abs(account.monthly_limit - chosen) >= 0.005) {
      mismatch = `Your account's monthly cap is ${fmt.money(account.monthly_limit, cur)}, but you chose ${fmt.money(chosen, cur)}.`;
    }
  }
  $("cap-mismatch").hidden = !mismatch;
  if (mismatch) text("cap-mismatch", mismatch);
}

/**
 * Shows (or clears, with null) the cap's inline error.
 * @param {string | null} message
 */
function capError(message) {
  const input = $input("cap-input");
  input.setAttribute("aria-invalid", String(Boolean(message)));
  showError("cap-error", message ? capitalise(message) + (message.endsWith(".") ? "" : ".") : null);
  if (message) input.focus();
}

/** Validates and saves the chosen cap locally; returns it in dollars, or null (error shown). */
async function saveCap() {
  const input = $input("cap-input");
  try {
    // The core reads the amount (`Cap::parse`); the pane keeps no parser of its own.
    applySettings(await ipc.call("set_spending_cap", { input: input.value }));
    capError(null);
    const cap = chosenCap();
    if (cap != null) input.value = cap.toFixed(2);
    eu.capTouched = false;
    renderExtraUsage();
    return cap;
  } catch (e) {
    capError(e.message);
    return null;
  }
}

/**
 * The cap the form asks for, as the core reads it: `{cap}` (canonical, `1250.50`) or
 * `{noCap: true}`, or null with the core's error shown.
 * @returns {Promise<{ cap: string } | { noCap: true } | null>}
 */
async function capFromForm() {
  if ($input("no-cap").checked) return { noCap: true };
  try {
    const { canonical } = await ipc.call("check_cap", { input: $input("cap-input").value });
    capError(null);
    return { cap: canonical };
  } catch (e) {
    capError(e.message);
    return null;
  }
}

/**
 * The confirmation dialog for `plan` (prepare_extra_usage's answer). Resolves with the amount
 * typed again ("" when none is asked for), or null when cancelled (button or Escape).
 * @param {Plan} plan
 * @returns {Promise<string | null>}
 */
function confirmDialog(plan) {
  const dialog = /** @type {HTMLDialogElement} */ ($("extra-usage-dialog"));
  const typedBox = $("confirm-typed");
  const typed = $input("confirm-amount");
  text("confirm-title", plan.title);
  text("confirm-text", plan.text);
  $button("confirm-ok").textContent = plan.confirm_label;
  typedBox.hidden = !plan.typed_required;
  typed.value = "";
  typed.removeAttribute("aria-invalid");
  showError("confirm-amount-error", null);
  if (plan.typed_required) text("confirm-amount-label", plan.typed_label ?? "");
  return new Promise((resolve) => {
    const done = (/** @type {string | null} */ value) => {
      dialog.removeEventListener("cancel", onCancel);
      $("confirm-form").removeEventListener("submit", onSubmit);
      $button("confirm-cancel").removeEventListener("click", onCancelClick);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onCancel = (/** @type {Event} */ e) => {
      e.preventDefault();
      done(null);
    };
    const onCancelClick = () => done(null);
    const onSubmit = async (/** @type {Event} */ e) => {
      e.preventDefault();
      if (plan.typed_required) {
        // The core decides whether the amount matches (the pane keeps no copy of the rule).
        const same = await ipc
          .call("check_extra_usage_amount", { token: plan.token, typedAmount: typed.value })
          .catch(() => false);
        if (!same) {
          typed.setAttribute("aria-invalid", "true");
          showError("confirm-amount-error", `Type ${plan.typed_expected} exactly to confirm, or Cancel.`);
          typed.focus();
          return;
        }
      }
      done(plan.typed_required ? typed.value : "");
    };
    dialog.addEventListener("cancel", onCancel);
    $("confirm-form").addEventListener("submit", onSubmit);
    $button("confirm-cancel").addEventListener("click", onCancelClick);
    dialog.showModal();
    // Focus into the dialog: the amount to type, else Cancel (the choice that spends nothing).
    (plan.typed_required ? typed : $button("confirm-cancel")).focus();
  });
}

/**
 * The failure as the section shows it.
 * @param {import("../ipc.js").CommandError} e
 */
function failure(e) {
  return { message: e.message, browser_url: e.browser_url, may_have_changed: e.may_have_changed };
}

/**
 * One change to the account, from prepare (the core reads the account and asks) through the
 * dialog to the answer the account gives when read back.
 * @param {Change} change
 * @param {number} [asked] how many questions this change has had (the account changed between)
 */
async function changeExtraUsage(change, asked = 0) {
  if (eu.busy) return;
  eu.failure = null;
  eu.lastChange = change;
  let plan;
  try {
    plan = await ipc.call("prepare_extra_usage", change);
  } catch (e) {
    if (e.code === "invalid_cap") capError(e.message);
    else if (e.code === "extra_usage_off" && change.action === "cap") {
      // Changing the cap never turns Extra Usage on: that is its own question, asked now.
      const { action: _, ...cap } = change;
      return changeExtraUsage({ action: "enable", ...cap }, asked);
    } else eu.failure = failure(e);
    renderExtraUsage();
    return;
  }
  const typedAmount = await confirmDialog(plan);
  if (typedAmount === null) {
    // Cancelled: nothing was sent, and the switch shows the account's state again.
    renderExtraUsage();
    $input("extra-usage-switch").focus();
    return;
  }
  eu.busy = true;
  eu.result = null;
  text("extra-usage-progress-text", plan.progress);
  renderExtraUsage();
  try {
    const r = await ipc.call("apply_extra_usage", { token: plan.token, typedAmount });
    eu.result = r;
    if (state.overview) state.overview.snapshot.extra_usage = r.extra_usage;
    if (r.settings) state.settings = r.settings;
    const cap = chosenCap();
    if (cap != null && !$input("no-cap").checked) {
      $input("cap-input").value = cap.toFixed(2);
      eu.capTouched = false;
    }
  } catch (e) {
    eu.failure = failure(e);
    if (e.code === "account_changed" && asked === 0) {
      // Nothing was sent: the account changed since the question. Ask the new question.
      eu.busy = false;
      renderExtraUsage();
      return changeExtraUsage(change, asked + 1);
    }
  } finally {
    eu.busy = false;
  }
  renderExtraUsage();
  renderNow();
}

/**
 * The browser flow, for when the direct way is not available.
 * @param {boolean} repeat turn it on there with the cap last asked for (else only open the page)
 */
async function openInBrowser(repeat) {
  const change = eu.lastChange;
  try {
    if (repeat && change?.action === "enable" && "cap" in change && change.cap) {
      // Saves the cap, opens the account's page and watches it (extra-usage-state events).
      const r = await ipc.call("enable_extra_usage", { cap: change.cap });
      state.waiting = true;
      state.confirmedAt = null;
      eu.failure = null;
      await reloadSettings().catch(() => {});
      renderExtraUsage();
      if (!r.opened) {
        setStatus("extra-usage-status", `Waiting for your account to confirm… Turn Extra Usage on at ${r.url}`, "waiting");
      }
    } else {
      const r = await ipc.call("open_account_settings");
      if (!r.opened) setStatus("extra-usage-status", `Open ${r.url} in your browser.`, "");
    }
  } catch (err) {
    setStatus("extra-usage-status", err.message, "bad");
  }
}

export function setupExtraUsage() {
  $("cap-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (accountExtraUsage()?.enabled === true) {
      capFromForm().then((cap) => { if (cap) changeExtraUsage({ action: "cap", ...cap }); });
      return;
    }
    busy($button("cap-save"), async () => {
      if ((await saveCap()) != null) setStatus("extra-usage-status", `Cap saved: ${fmt.money(chosenCap(), accountExtraUsage()?.currency || "USD")} a month, for when Extra Usage is on.`, "ok");
    });
  });
  // Focus counts as touching: WebDriver's clear (and a user's select-all) focuses the field,
  // empties it and may leave it before the first key arrives.
  $input("cap-input").addEventListener("focus", () => { eu.capTouched = true; });
  $input("cap-input").addEventListener("input", () => {
    eu.capTouched = true;
    // Clear a stale error as soon as the user edits; the next save checks again.
    if (!$("cap-error").hidden) showError("cap-error", null);
    $input("cap-input").removeAttribute("aria-invalid");
  });
  $input("no-cap").addEventListener("change", () => {
    capError(null);
    renderExtraUsage();
  });
  $input("confirm-amount").addEventListener("input", () => {
    $input("confirm-amount").removeAttribute("aria-invalid");
    showError("confirm-amount-error", null);
  });
  const sw = $input("extra-usage-switch");
  sw.addEventListener("change", () => {
    const on = accountExtraUsage()?.enabled === true;
    // The switch shows the account until the account says otherwise; the dialog decides.
    sw.checked = on;
    if (on) {
      changeExtraUsage({ action: "disable" });
      return;
    }
    state.waiting = false;
    // A cap (or "No cap", confirmed by typing it) is required: enabling pay-as-you-go with no
    // ceiling by accident is how surprise bills happen.
    capFromForm().then((cap) => { if (cap) changeExtraUsage({ action: "enable", ...cap }); });
  });
  // What scripts may set (audit N4): settable here and from a terminal, never by a script.
  $("scripts-form").addEventListener("submit", (e) => {
    e.preventDefault();
    busy($button("scripts-save"), async () => {
      const typed = $input("scripts-max-cap").value.trim();
      let max = null;
      if (typed !== "") {
        try {
          max = Number((await ipc.call("check_cap", { input: typed })).canonical);
        } catch (err) {
          showError("scripts-error", err.message);
          return;
        }
      }
      if (!state.settings) return;
      const next = { ...state.settings, extra_usage: { ...state.settings.extra_usage, scripts_max_cap: max } };
      await saveSettings(next, "scripts-error", "scripts-saved");
    });
  });
  $button("extra-usage-recheck").addEventListener("click", () => {
    busy($button("extra-usage-recheck"), async () => {
      try {
        const account = await ipc.call("read_extra_usage");
        if (state.overview) state.overview.snapshot.extra_usage = account;
        eu.failure = null;
      } catch (e) {
        eu.failure = failure(e);
      }
      renderExtraUsage();
      renderNow();
    });
  });
  $button("extra-usage-browser").addEventListener("click", () => openInBrowser(true));
  $button("extra-usage-browser-link").addEventListener("click", () => openInBrowser(false));
}

/**
 * The browser flow's watch, step by step.
 * @param {ExtraUsageState} p
 */
export function onExtraUsageState(p) {
  const kind = p.state;
  if (p.extra_usage && state.overview) state.overview.snapshot.extra_usage = p.extra_usage;
  if (kind === "enabled" || p.extra_usage?.enabled === true) {
    state.waiting = false;
    state.confirmedAt = Date.now();
  } else if (kind === "waiting") {
    state.waiting = true;
  } else {
    state.waiting = false;
    renderExtraUsage();
    setStatus("extra-usage-status", p.message ?? (kind === "no_source"
      ? "No source that reports Extra Usage is set up: sign in to Claude Code or add a claude.ai session key."
      : "Your account has not reported Extra Usage on yet. Headroom keeps checking at its usual pace."), "bad");
    renderNow();
    return;
  }
  renderExtraUsage();
  renderNow();
}
