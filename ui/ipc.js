// The one door to the app: Tauri commands and events. Nothing else in the pane touches
// `window.__TAURI__`, so the contract in docs/ipc.md is followed in one place.

function tauri() {
  const t = window.__TAURI__;
  if (t?.core?.invoke) return t;
  return null;
}

/** A command's error as the app sends it (`{code, message}`), or one made from anything else. */
export class CommandError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export function available() {
  return tauri() !== null;
}

/** Calls a command; rejects with a CommandError whose message is fit to show. */
export async function call(command, args = {}) {
  const t = tauri();
  if (!t) throw new CommandError("no_app", "This page runs inside the Headroom app.");
  try {
    return await t.core.invoke(command, args);
  } catch (err) {
    if (err && typeof err === "object" && typeof err.message === "string") {
      throw new CommandError(err.code ?? "error", err.message);
    }
    throw new CommandError("error", typeof err === "string" ? err : `${command} failed`);
  }
}

/** Subscribes to an app event; returns a function that unsubscribes. */
export async function on(event, handler) {
  const t = tauri();
  if (!t?.event?.listen) return () => {};
  return t.event.listen(event, (e) => handler(e.payload));
}
