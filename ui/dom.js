// @ts-check
// The page's elements and the small things every section does with them: set a text, show
// or clear an error, flash a word, keep a button from being clicked twice.

// The page's elements by id; index.html has every id this file names.
/** @param {string} id */
export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @param {string} id */
export const $input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/** @param {string} id */
export const $button = (id) => /** @type {HTMLButtonElement} */ (document.getElementById(id));

/** @param {string} id */
export const $svg = (id) => /** @type {SVGSVGElement} */ (/** @type {unknown} */ (document.getElementById(id)));

/**
 * @param {string} id
 * @param {string} value
 */
export function text(id, value) {
  const node = document.getElementById(id);
  if (node && node.textContent !== value) node.textContent = value;
}

/**
 * @param {string} id
 * @param {string | null | undefined} message
 */
export function showError(id, message) {
  const node = document.getElementById(id);
  if (!node) return;
  node.textContent = message ?? "";
  node.hidden = !message;
}

/** @param {string} message */
export function showNotice(message) {
  const n = $("notice");
  n.textContent = message;
  n.hidden = !message;
}

/** @type {Map<string, ReturnType<typeof setTimeout>>} */
const flashTimers = new Map();

/**
 * @param {string} id
 * @param {string} message
 */
export function flash(id, message, ms = 2500) {
  const node = $(id);
  node.textContent = message;
  clearTimeout(flashTimers.get(id));
  flashTimers.set(id, setTimeout(() => { node.textContent = ""; }, ms));
}

/**
 * @param {string} id
 * @param {string} message
 * @param {"ok" | "waiting" | "bad" | ""} kind
 */
export function setStatus(id, message, kind) {
  const node = $(id);
  node.textContent = message ?? "";
  node.className = `status ${kind ?? ""}`;
}

/**
 * Runs `work` with `button` disabled, so a second click cannot start it twice.
 * @template T
 * @param {HTMLButtonElement | HTMLInputElement} button
 * @param {() => Promise<T>} work
 */
export async function busy(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

/** @param {string} s */
export function capitalise(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}
