// Progressive enhancement for votes: the forms post normally without JavaScript; with it
// the vote is sent in the background, a dismissed card disappears and the pressed button
// shows the vote. Nothing else on the page depends on this file.
(function () {
  "use strict";
  function announce(text) {
    var toast = document.createElement("div");
    toast.className = "toast";
    toast.setAttribute("role", "status");
    toast.textContent = text;
    document.body.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 2500);
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-vote") || !window.fetch) return;
    event.preventDefault();
    var data = new FormData(form);
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(data),
      headers: { "Accept": "application/json" },
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.error || "the vote was not saved");
        return body;
      });
    }).then(function (body) {
      var group = form.closest(".votes");
      group.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
      form.querySelector("button").setAttribute("aria-pressed", "true");
      var card = form.closest(".card");
      if (card && (body.signal === "dismissed" || body.signal === "down") && card.tagName === "LI") {
        card.classList.add("gone");
      }
      announce(body.label);
    }).catch(function (error) { announce("Not saved: " + error.message); });
  });
})();
