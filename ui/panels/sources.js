// @ts-check
// The Sources section: the status line, Claude Code's login, the claude.ai key, the
// transcript folders, and what the last refresh said.

import * as ipc from "../ipc.js";
import * as fmt from "../format.js";
import { $, $button, $input, busy, showError, showNotice, text } from "../dom.js";
import { snapshot, sourceStatus, state, zone } from "../state.js";

/**
 * @param {string} id
 * @param {"ok" | "warn" | "bad" | ""} kind
 */
function dot(id, kind) {
  $(id).className = `dot ${kind}`;
}

// Until get_sources answers, the snapshot's source list says what is set up.
export function renderSources() {
  const src = state.sources;
  const now = Date.now();
  $("sources-empty").hidden = state.overview?.has_source !== false;

  const slStatus = sourceStatus("statusline");
  const installed = src ? src.statusline.installed : slStatus?.configured ?? false;
  const slSeen = slStatus?.last_success_ms;
  text("statusline-state", installed ? (slSeen ? `installed · last feed ${fmt.age(now - slSeen)}` : "installed · no feed yet") : "not installed");
  dot("statusline-dot", installed ? (slSeen ? "ok" : "warn") : "");
  $button("statusline-install").textContent = installed ? "Reinstall" : "Install";

  const acc = sourceStatus("account");
  const found = src ? src.credentials.found : acc?.configured ?? false;
  text("credentials-state", found ? (acc?.last_success_ms ? `found · last read ${fmt.age(now - acc.last_success_ms)}` : "found") : "not found: sign in to Claude Code");
  dot("credentials-dot", !found ? "bad" : acc?.error ? "warn" : "ok");
  showError("account-error", acc?.error ?? null);

  const cai = sourceStatus("claude.ai");
  const keyStored = src ? src.claude_ai.key_stored : cai?.configured ?? false;
  text("session-key-state", keyStored ? (cai?.last_success_ms ? `stored in the keychain · last read ${fmt.age(now - cai.last_success_ms)}` : "stored in the keychain") : "not set (optional)");
  dot("claude-ai-dot", keyStored ? (cai?.error ? "warn" : "ok") : "");
  $button("session-key-clear").hidden = !keyStored;
  showError("claude-ai-error", keyStored ? cai?.error ?? null : null);

  const dirs = src?.transcript_dirs ?? [];
  $("transcript-dirs").replaceChildren(...dirs.map((d) => {
    const li = document.createElement("li");
    li.textContent = d.exists ? d.path : `${d.path} (not found)`;
    return li;
  }));
  const anyDir = dirs.some((d) => d.exists);
  text("transcripts-state", dirs.length === 0 ? "none found" : anyDir ? `${dirs.length} folder${dirs.length > 1 ? "s" : ""}` : "none found");
  dot("transcripts-dot", anyDir ? "ok" : "bad");

  const last = src?.last_refresh_ms ?? snapshot().taken_at_ms;
  text("last-refresh", last > 0 ? `${fmt.clock(last, now, zone())} (${fmt.age(now - last)})` : "never");
  const cool = snapshot().sources.map((s) => s.cooldown_until_ms ?? 0).filter((t) => t > now);
  text("cooldown", cool.length ? `no requests until ${fmt.clock(Math.max(...cool), now, zone())} (rate limit)` : "none");
  const errors = [...new Set([...snapshot().errors, ...(src?.errors ?? [])])];
  if (src?.settings_notice) showNotice(src.settings_notice);
  $("source-errors").replaceChildren(...errors.map((e) => {
    const li = document.createElement("li");
    li.textContent = e;
    return li;
  }));
}

export async function loadSources() {
  try {
    state.sources = await ipc.call("get_sources");
  } catch (e) {
    showError("load-error", e.message);
  }
  renderSources();
}

/**
 * What install_statusline did, a line each.
 * @param {import("../ipc-types").InstallResult} r
 */
function describeChanges(r) {
  return [r.summary, ...r.changes].filter(Boolean).join("\n");
}

export function setupSources() {
  $button("statusline-install").addEventListener("click", () => busy($button("statusline-install"), async () => {
    const out = $("statusline-changes");
    try {
      const r = await ipc.call("install_statusline");
      out.textContent = describeChanges(r);
      out.classList.remove("field-error");
    } catch (e) {
      out.textContent = e.message;
      out.classList.add("field-error");
    }
    out.hidden = false;
    await loadSources();
  }));

  $("session-key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $input("session-key-input");
    busy($button("session-key-save"), async () => {
      const key = input.value.trim();
      if (!key) {
        showError("session-key-error", "Paste the session key first.");
        return;
      }
      try {
        await ipc.call("set_claude_ai_session_key", { key });
        // Cleared at once: the page keeps no copy, and it is never read back.
        input.value = "";
        showError("session-key-error", null);
        await loadSources();
      } catch (err) {
        showError("session-key-error", err.message);
      }
    });
  });
  $button("session-key-clear").addEventListener("click", () => busy($button("session-key-clear"), async () => {
    try {
      await ipc.call("clear_claude_ai_session_key");
      showError("session-key-error", null);
      await loadSources();
    } catch (err) {
      showError("session-key-error", err.message);
    }
  }));
}
