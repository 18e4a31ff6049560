// Collect mode: the digit to ask for next, and why (mostly one the served
// model gets wrong lately).

import { getJSON } from "../api.js";

export async function nextPrompt(url, focusDigits) {
  try {
    const { ok, data } = await getJSON(url);
    if (ok) return data; // {digit, reason, error_rate, drawings}
  } catch (_) {
    /* offline: below */
  }
  // No answer: still favour the focus digits, and say why this one.
  const focus = Math.random() < 0.6 && focusDigits.length;
  const digit = focus ? focusDigits[Math.floor(Math.random() * focusDigits.length)] : Math.floor(Math.random() * 10);
  return { digit, reason: "The server did not say which digits the model needs most; any drawing helps." };
}

export function showPrompt(prompt) {
  document.getElementById("prompt-digit").textContent = prompt.digit;
  document.getElementById("prompt-reason").textContent = prompt.reason;
  document.getElementById("prompt").hidden = false;
}
