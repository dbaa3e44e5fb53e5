// Refresh the generation progress bar every 2 s while the study is generating; stop once it
// has settled. A static file, not an inline script: the admin's Content-Security-Policy allows
// scripts from this site only.
(function () {
  const panel = document.getElementById("generation-panel");
  const target = document.getElementById("generation-progress");
  if (!panel || !target) return;
  async function refresh() {
    if (!target.querySelector("[data-active='true']")) return;
    try {
      const response = await fetch(panel.dataset.url, {credentials: "same-origin"});
      if (response.ok) target.innerHTML = await response.text();
    } catch (error) { /* a missed refresh is retried on the next tick */ }
    setTimeout(refresh, 2000);
  }
  setTimeout(refresh, 2000);
})();
