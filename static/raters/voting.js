// Voting without page reloads, keyboard shortcuts, and time on the pair. The page works without
// this file: every action is a plain form post.
(function () {
  "use strict";
  const panel = document.querySelector("[data-panel]");
  if (!panel) return;

  let shownAt = performance.now();
  let hiddenSince = document.hidden ? performance.now() : null;
  let hiddenTotal = 0;
  let busy = false;

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      hiddenSince = performance.now();
    } else if (hiddenSince !== null) {
      hiddenTotal += performance.now() - hiddenSince;
      hiddenSince = null;
    }
  });

  function resetTimer() {
    shownAt = performance.now();
    hiddenTotal = 0;
    hiddenSince = document.hidden ? performance.now() : null;
  }

  function timeOnPair() {
    const hiddenNow = hiddenSince !== null ? performance.now() - hiddenSince : 0;
    return Math.max(0, Math.round(performance.now() - shownAt - hiddenTotal - hiddenNow));
  }

  function setBusy(value) {
    busy = value;
    panel.setAttribute("aria-busy", value ? "true" : "false");
    panel.querySelectorAll("button").forEach(function (button) { button.disabled = value; });
  }

  function showError(text) {
    const status = panel.querySelector("#status");
    if (!status) return;
    const p = document.createElement("p");
    p.className = "alert alert-error";
    p.textContent = text;
    status.replaceChildren(p);
  }

  async function send(form, submitter) {
    if (busy) return;
    const timeField = form.querySelector("[data-time-spent]");
    if (timeField) timeField.value = String(timeOnPair());
    const data = new FormData(form, submitter || undefined);
    // formAction reads as the page's own URL when the attribute is absent.
    const action =
      submitter && submitter.hasAttribute("formaction") ? submitter.formAction : form.action;
    setBusy(true);
    let response;
    try {
      response = await fetch(action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" },
      });
    } catch (error) {
      setBusy(false);
      // Nothing is lost: sending the same choice again records it once.
      showError("Could not reach the server. Check your connection and press the key again.");
      return;
    }
    if (!response.ok) {
      setBusy(false);
      showError("Something went wrong (" + response.status + "). Reload the page to continue.");
      return;
    }
    panel.innerHTML = await response.text();
    panel.setAttribute("aria-busy", "false");
    busy = false;
    resetTimer();
    activeRow = 0;
    showActive();
    const title = panel.querySelector("#panel-title");
    if (title) title.focus({ preventScroll: true });
    window.scrollTo({ top: 0 });
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !panel.contains(form)) return;
    if (form.hasAttribute("data-plain")) return;
    event.preventDefault();
    send(form, event.submitter);
  });

  // Criteria: one row of keys per question. A key answers the active row and moves on to the
  // next unanswered one; answering the last submits. Arrow keys move between rows.
  let activeRow = 0;

  function rows() {
    return Array.from(panel.querySelectorAll("[data-row]"));
  }

  function showActive() {
    const all = rows();
    if (activeRow >= all.length) activeRow = Math.max(0, all.length - 1);
    all.forEach(function (row, index) {
      row.classList.toggle("active", index === activeRow);
      row.classList.toggle("answered", row.querySelector("input:checked") !== null);
    });
  }

  function rowsKey(event) {
    const all = rows();
    if (!all.length) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      activeRow = Math.min(all.length - 1, Math.max(0, activeRow + (event.key === "ArrowDown" ? 1 : -1)));
      showActive();
      event.preventDefault();
      return true;
    }
    const submit = panel.querySelector("[data-submit-rows]");
    if (event.key === "Enter" && submit && !busy) {
      event.preventDefault();
      submit.form.requestSubmit(submit);
      return true;
    }
    const key = event.key.length === 1 ? event.key.toLowerCase() : "";
    const input = key && all[activeRow].querySelector('[data-row-key="' + key + '"]');
    if (!input || busy) return false;
    event.preventDefault();
    input.checked = true;
    const next = all.findIndex(function (row, index) {
      return index > activeRow && row.querySelector("input:checked") === null;
    });
    const unanswered = all.findIndex(function (row) {
      return row.querySelector("input:checked") === null;
    });
    if (unanswered === -1 && submit) {
      showActive();
      submit.form.requestSubmit(submit);
      return true;
    }
    activeRow = next !== -1 ? next : unanswered;
    showActive();
    return true;
  }

  panel.addEventListener("change", function (event) {
    const row = event.target instanceof Element ? event.target.closest("[data-row]") : null;
    if (row) activeRow = rows().indexOf(row);
    showActive();
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = event.target;
    if (target instanceof Element && target.matches('textarea, input:not([type="radio"]), select, [contenteditable]')) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (rowsKey(event)) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : "";
    if (!key) return;
    const control = panel.querySelector('[data-key="' + key + '"]');
    if (!control || control.disabled) return;
    event.preventDefault();
    if (control instanceof HTMLTextAreaElement) {
      control.focus();
    } else if (control instanceof HTMLButtonElement && control.form && !busy) {
      control.form.requestSubmit(control);
    }
  });
  showActive();
  // Lets tests (and anything else) know the shortcuts are live.
  document.documentElement.dataset.votingReady = "true";
})();
