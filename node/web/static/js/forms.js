// Forms that talk to the node: the node's problem+json appears next to the
// field it names (problem.field), or at the top of the form; what the user
// typed is never cleared by a failure.

import { ApiError, NotSignedIn } from "./api.js";

function fieldFor(form, name) {
  if (!name) return null;
  const candidates = Array.from(form.querySelectorAll("[data-problem-field], [name]"));
  const exact = candidates.find((el) => (el.dataset.problemField || "").split(/\s+/).includes(name));
  if (exact) return exact;
  const named = candidates.find((el) => el.name === name);
  if (named) return named;
  // body.files[0].units → files; body.title → title
  const stem = name.replace(/^body\./, "").split(/[.[]/)[0];
  return (
    candidates.find((el) => (el.dataset.problemField || "").split(/\s+/).includes(stem)) ||
    candidates.find((el) => el.name === stem) ||
    null
  );
}

function errorSlot(form, field) {
  const id = `${field.id || field.name}-error`;
  let slot = form.querySelector(`#${CSS.escape(id)}`);
  if (!slot) {
    slot = document.createElement("p");
    slot.id = id;
    slot.className = "field-error";
    field.closest(".field, fieldset, label")?.append(slot) ?? field.after(slot);
  }
  return slot;
}

function formSlot(form) {
  let slot = form.querySelector("[data-form-error]");
  if (!slot) {
    slot = document.createElement("div");
    slot.dataset.formError = "";
    slot.className = "form-error";
    form.prepend(slot);
  }
  slot.setAttribute("role", "alert");
  slot.tabIndex = -1;
  return slot;
}

export function clearProblems(form) {
  for (const slot of form.querySelectorAll(".field-error")) {
    slot.textContent = "";
    slot.hidden = true;
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const top = form.querySelector("[data-form-error]");
  if (top) {
    top.textContent = "";
    top.hidden = true;
  }
}

function describe(problem) {
  const parts = [problem.title, problem.detail].filter(Boolean);
  const unique = parts.length === 2 && parts[0] === parts[1] ? [parts[0]] : parts;
  return unique.join(": ");
}

/** Show an error from the node (ApiError) or from the browser next to its field. */
export function showProblem(form, error, fallbackField = null) {
  const problem =
    error instanceof ApiError
      ? error.problem
      : { title: error instanceof NotSignedIn ? "Not signed in" : "Error", detail: error.message, field: error.field };
  // `field` names a place in a record or body; query problems name the `parameter`.
  const field = fieldFor(form, problem.field || problem.parameter) || fieldFor(form, fallbackField);
  const top = formSlot(form);
  top.hidden = false;
  const message = describe(problem);
  if (field) {
    const slot = errorSlot(form, field);
    slot.textContent = message;
    slot.hidden = false;
    field.setAttribute("aria-invalid", "true");
    const described = new Set((field.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean));
    described.add(slot.id);
    field.setAttribute("aria-describedby", Array.from(described).join(" "));
    top.textContent = `The node refused this: ${problem.title || "error"} (see ${field.labels?.[0]?.textContent?.trim() || field.name}).`;
    field.focus();
  } else {
    top.textContent = message;
    if (error instanceof NotSignedIn) {
      const link = document.createElement("a");
      link.href = "/ui/key";
      link.textContent = " Sign in with your key.";
      top.append(link);
    }
    top.focus();
  }
  if (problem.request_id) top.dataset.requestId = problem.request_id;
}

/** Run action on submit with the form busy; errors go to showProblem. */
export function handleSubmit(form, action, fallbackField = null) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblems(form);
    const buttons = form.querySelectorAll("button[type=submit], button:not([type])");
    for (const b of buttons) b.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      await action(new FormData(form), event.submitter);
    } catch (error) {
      if (!(error instanceof ApiError || error instanceof NotSignedIn || error.field !== undefined)) {
        console.error(error);
      }
      showProblem(form, error, fallbackField);
    } finally {
      for (const b of buttons) b.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
}

/** An error raised by the page itself for one field (before asking the node). */
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}
