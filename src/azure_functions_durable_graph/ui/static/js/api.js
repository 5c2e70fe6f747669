// The HTTP API client: the prefix comes from <meta name="api-prefix">, the API key from
// sessionStorage (asked for when a request returns 401) and is sent as x-functions-key.

const KEY_STORAGE = "durable-graph.api-key";

function readPrefix() {
  const meta = document.querySelector('meta[name="api-prefix"]');
  const value = meta ? meta.getAttribute("content") : null;
  if (value === null || value.startsWith("{{")) return "/api";
  return value.replace(/\/+$/, "");
}

export const API_PREFIX = readPrefix();

/** An error answer of the API: status, code, message and details (validation errors). */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `request failed with HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = error.code || `HTTP_${status}`;
    this.details = Array.isArray(error.details) ? error.details : [];
  }
}

export function apiUrl(path, query) {
  const url = `${API_PREFIX}${path}`;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${url}?${text}` : url;
}

export function getKey() {
  try {
    return window.sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function setKey(key) {
  try {
    if (key) window.sessionStorage.setItem(KEY_STORAGE, key);
    else window.sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: the key lives for this request only
  }
  document.dispatchEvent(new CustomEvent("api-key-changed"));
}

let pendingPrompt = null;

/**
 * Ask for the API key in the modal dialog. Resolves true when a key was entered, false when
 * the dialog was dismissed. Concurrent callers share one dialog.
 */
export function askForKey(message) {
  if (pendingPrompt) return pendingPrompt;
  const dialog = document.getElementById("key-dialog");
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  const text = document.getElementById("key-dialog-message");
  const cancel = document.getElementById("key-cancel");
  const clear = document.getElementById("key-clear");
  if (!dialog || typeof dialog.showModal !== "function") {
    const key = window.prompt(message || "API key");
    if (key) setKey(key);
    return Promise.resolve(Boolean(key));
  }
  const opener = document.activeElement;
  pendingPrompt = new Promise((resolve) => {
    text.textContent = message || "Enter the API key of this server.";
    input.value = "";
    clear.hidden = !getKey();
    const finish = (result) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      clear.removeEventListener("click", onClear);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      pendingPrompt = null;
      if (opener && typeof opener.focus === "function" && document.contains(opener)) opener.focus();
      resolve(result);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) {
        input.focus();
        return;
      }
      setKey(key);
      finish(true);
    };
    const onCancel = (event) => {
      event.preventDefault();
      finish(false);
    };
    const onClear = (event) => {
      event.preventDefault();
      setKey(null);
      finish(false);
    };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    clear.addEventListener("click", onClear);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    input.focus();
  });
  return pendingPrompt;
}

/**
 * Call the API. Returns the parsed JSON body; throws ApiError for an error answer. A 401 asks
 * for the API key and retries.
 */
export async function api(method, path, { query, body, signal } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const headers = { Accept: "application/json" };
    const key = getKey();
    if (key) headers["x-functions-key"] = key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(apiUrl(path, query), {
      method, headers, signal, cache: "no-store", credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = { error: { code: "BAD_RESPONSE", message: text.slice(0, 300) } };
      }
    }
    if (response.status === 401 && attempt < 5 && !(signal && signal.aborted)) {
      const message = key
        ? "The API key was not accepted. Enter the key of this server."
        : "This server needs an API key. Enter it to continue.";
      if (await askForKey(message)) continue;
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }
}
