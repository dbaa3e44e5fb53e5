// The prompt's images and documents: an image opens enlarged in a dialog (click it for its full
// size), and a long document has a find box that marks every match. Static and delegated: it
// works on pairs the voting script loads without a page reload, and no inline script is needed.
// Without this file, an image's link opens it full size and the document panel still scrolls.
(function () {
  "use strict";
  const MAX_MARKS = 2000;
  let dialog = null;

  function zoomDialog() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "image-zoom";
    dialog.setAttribute("aria-label", "Image from the prompt, enlarged");
    const close = document.createElement("button");
    close.type = "button";
    close.className = "secondary image-zoom-close";
    close.textContent = "Close (Esc)";
    close.addEventListener("click", function () { dialog.close(); });
    const frame = document.createElement("div");
    frame.className = "image-zoom-frame";
    const image = document.createElement("img");
    image.alt = "Image from the prompt, enlarged (click for its full size)";
    image.addEventListener("click", function () { dialog.classList.toggle("full-size"); });
    frame.appendChild(image);
    dialog.append(close, frame);
    // A click on the backdrop (the dialog itself, outside its content) closes it.
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) dialog.close();
    });
    document.body.appendChild(dialog);
    return dialog;
  }

  document.addEventListener("click", function (event) {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const link = event.target instanceof Element ? event.target.closest("a.prompt-image") : null;
    if (!link) return;
    event.preventDefault();
    const zoom = zoomDialog();
    zoom.classList.remove("full-size");
    zoom.querySelector("img").src = link.href;
    zoom.showModal();
  });

  // While the enlarged image is open, keys are for it (Esc closes), never a vote's shortcut.
  window.addEventListener(
    "keydown",
    function (event) {
      if (dialog && dialog.open && event.key !== "Escape" && event.key !== "Tab") {
        event.stopPropagation();
      }
    },
    true
  );

  function matchesMark(panel, query) {
    const text = panel.textContent;
    const nodes = [];
    let count = 0;
    if (query) {
      const haystack = text.toLocaleLowerCase();
      const needle = query.toLocaleLowerCase();
      let from = 0;
      let at = haystack.indexOf(needle, from);
      while (at !== -1 && count < MAX_MARKS) {
        if (at > from) nodes.push(document.createTextNode(text.slice(from, at)));
        const mark = document.createElement("mark");
        mark.textContent = text.slice(at, at + needle.length);
        nodes.push(mark);
        count += 1;
        from = at + needle.length;
        at = haystack.indexOf(needle, from);
      }
      nodes.push(document.createTextNode(text.slice(from)));
    } else {
      nodes.push(document.createTextNode(text));
    }
    panel.replaceChildren.apply(panel, nodes);
    return count;
  }

  function finder(input) {
    const box = input.closest("[data-document-find]");
    const panel = box && box.parentElement.querySelector(".document-text");
    return box && panel ? { box: box, panel: panel, count: box.querySelector(".find-count") } : null;
  }

  function show(found, index) {
    const marks = found.panel.querySelectorAll("mark");
    marks.forEach(function (mark) { mark.classList.remove("current"); });
    if (!marks.length) return;
    const current = marks[(index + marks.length) % marks.length];
    current.classList.add("current");
    found.box.dataset.current = String((index + marks.length) % marks.length);
    // Scroll the panel only, not the page.
    found.panel.scrollTop = current.offsetTop - found.panel.clientHeight / 3;
    const more = marks.length >= MAX_MARKS ? "+" : "";
    found.count.textContent =
      (Number(found.box.dataset.current) + 1) + " of " + marks.length + more;
  }

  document.addEventListener("input", function (event) {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.matches("[data-document-find] input")) return;
    const found = finder(input);
    if (!found) return;
    const count = matchesMark(found.panel, input.value);
    if (!input.value) {
      found.count.textContent = "";
    } else if (!count) {
      found.count.textContent = "No match";
    } else {
      show(found, 0);
    }
  });

  document.addEventListener("keydown", function (event) {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.matches("[data-document-find] input")) return;
    if (event.key !== "Enter") return;
    event.preventDefault();
    const found = finder(input);
    if (!found) return;
    const current = Number(found.box.dataset.current || "0");
    show(found, current + (event.shiftKey ? -1 : 1));
  });

  document.documentElement.dataset.mediaReady = "true";
})();
