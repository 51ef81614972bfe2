// @ts-check
// The one door to the app: Tauri commands and events. Nothing else in the pane touches
// `window.__TAURI__`, so the contract is followed in one place: the results' and events'
// types are generated from the Rust ones (ipc-types.d.ts); the commands' names and
// arguments are the map below, which `tsc` checks every call against.

/** @typedef {import("./ipc-types").Action} Action */
/** @typedef {import("./ipc-types").Applied} Applied */
/** @typedef {import("./ipc-types").CapCheck} CapCheck */
/** @typedef {import("./ipc-types").EnableStarted} EnableStarted */
/** @typedef {import("./ipc-types").ErrorCode} ErrorCode */
/** @typedef {import("./ipc-types").ExtraUsage} ExtraUsage */
/** @typedef {import("./ipc-types").ExtraUsageState} ExtraUsageState */
/** @typedef {import("./ipc-types").InstallResult} InstallResult */
/** @typedef {import("./ipc-types").KeyState} KeyState */
/** @typedef {import("./ipc-types").Opened} Opened */
/** @typedef {import("./ipc-types").Overview} Overview */
/** @typedef {import("./ipc-types").Plan} Plan */
/** @typedef {import("./ipc-types").Settings} Settings */
/** @typedef {import("./ipc-types").SettingsView} SettingsView */
/** @typedef {import("./ipc-types").Sources} Sources */
/** @typedef {import("./ipc-types").TestNotification} TestNotification */

/** @typedef {Record<string, never>} None */

/**
 * Every command the pane may call (src-tauri/build.rs declares the same names): its
 * arguments, camelCase as Tauri takes them, and its result.
 * @typedef {{
 *   get_overview: { args: None, result: Overview },
 *   get_settings: { args: None, result: SettingsView },
 *   save_settings: { args: { settings: Settings, base?: Settings | null }, result: SettingsView },
 *   set_spending_cap: { args: { input: string }, result: SettingsView },
 *   enable_extra_usage: { args: { cap: string }, result: EnableStarted },
 *   open_account_settings: { args: None, result: Opened },
 *   prepare_extra_usage: { args: { action: Action, cap?: string, noCap?: boolean }, result: Plan },
 *   apply_extra_usage: { args: { token: string, typedAmount?: string }, result: Applied },
 *   check_cap: { args: { input: string }, result: CapCheck },
 *   check_extra_usage_amount: { args: { token: string, typedAmount: string }, result: boolean },
 *   read_extra_usage: { args: None, result: ExtraUsage | null },
 *   get_sources: { args: None, result: Sources },
 *   install_statusline: { args: None, result: InstallResult },
 *   set_claude_ai_session_key: { args: { key: string }, result: KeyState },
 *   clear_claude_ai_session_key: { args: None, result: KeyState },
 *   send_test_notification: { args: None, result: TestNotification },
 *   refresh_now: { args: None, result: Overview },
 *   snooze_alerts: { args: { minutes?: number, untilReset?: boolean }, result: SettingsView },
 *   resume_alerts: { args: None, result: SettingsView },
 *   set_autostart: { args: { enabled: boolean }, result: SettingsView },
 * }} Commands
 */

/**
 * The events the app sends the settings window, and their payloads.
 * @typedef {{
 *   "usage-updated": Overview,
 *   "extra-usage-state": ExtraUsageState,
 * }} Events
 */

/**
 * The part of `window.__TAURI__` the pane uses (`app.withGlobalTauri`).
 * @typedef {{
 *   core: { invoke: (command: string, args: object) => Promise<unknown> },
 *   event?: { listen: (event: string, handler: (e: { payload: any }) => void) => Promise<() => void> },
 * }} Tauri
 */

/** @returns {Tauri | null} */
function tauri() {
  const t = /** @type {{ __TAURI__?: Tauri }} */ (/** @type {unknown} */ (window)).__TAURI__;
  if (t?.core?.invoke) return t;
  return null;
}

/** A command's error as the app sends it (`{code, message}`), or one made from anything else. */
export class CommandError extends Error {
  /**
   * @param {ErrorCode | "no_app" | "error"} code the app's code, or the page's own when the
   *   app is not there (`no_app`) or answered something else (`error`)
   * @param {string} message
   * @param {string | null} [browserUrl]
   * @param {boolean} [mayHaveChanged]
   */
  constructor(code, message, browserUrl = null, mayHaveChanged = false) {
    super(message);
    this.code = code;
    // Set when the app could not do it directly and the user's account page can.
    this.browser_url = browserUrl;
    // Set when a change to the account may or may not have been made.
    this.may_have_changed = mayHaveChanged;
  }
}

export function available() {
  return tauri() !== null;
}

/**
 * Calls a command; rejects with a CommandError whose message is fit to show. Commands
 * without arguments take none here either.
 * @template {keyof Commands} K
 * @param {K} command
 * @param {Commands[K]["args"] extends None ? [] : [Commands[K]["args"]]} args
 * @returns {Promise<Commands[K]["result"]>}
 */
export async function call(command, ...args) {
  const t = tauri();
  if (!t) throw new CommandError("no_app", "This page runs inside the Headroom app.");
  try {
    return /** @type {Commands[K]["result"]} */ (await t.core.invoke(command, args[0] ?? {}));
  } catch (err) {
    if (err && typeof err === "object" && "message" in err && typeof err.message === "string") {
      const e = /** @type {Partial<import("./ipc-types").CommandError> & { message: string }} */ (err);
      throw new CommandError(e.code ?? "error", e.message, e.browser_url ?? null, e.may_have_changed === true);
    }
    throw new CommandError("error", typeof err === "string" ? err : `${command} failed`);
  }
}

/**
 * Subscribes to an app event; returns a function that unsubscribes.
 * @template {keyof Events} E
 * @param {E} event
 * @param {(payload: Events[E]) => void} handler
 * @returns {Promise<() => void>}
 */
export async function on(event, handler) {
  const t = tauri();
  if (!t?.event?.listen) return () => {};
  return t.event.listen(event, (e) => handler(e.payload));
}
