// Overture inbox: keyboard shortcuts and small comforts over plain server-rendered forms.
// Everything works without this script; it only saves clicks.
(function () {
  "use strict";
  document.documentElement.classList.add("js");  // the buttons open the panels; hide their fallbacks

  function byId(id) { return document.getElementById(id); }

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function openPanel(id, focusId) {
    ["edit-panel", "reject-panel"].forEach(function (other) {
      var panel = byId(other);
      if (panel) panel.open = other === id;
    });
    var panel = byId(id);
    if (!panel) return;
    panel.scrollIntoView({block: "nearest"});
    var field = byId(focusId);
    if (field) { field.focus(); if (field.setSelectionRange && field.value) field.setSelectionRange(field.value.length, field.value.length); }
  }

  function go(linkId) {
    var link = byId(linkId);
    if (link) window.location.assign(link.href);
  }

  function submitOnce(form) {
    if (!form || form.dataset.sent) return;
    form.dataset.sent = "1";
    form.requestSubmit();
  }

  // A form is sent once: a double click or a held key never posts twice.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.posting) { event.preventDefault(); return; }
    if (form.method === "post") form.dataset.posting = "1";
  });

  document.addEventListener("keydown", function (event) {
    var help = byId("help");
    if (event.key === "Escape") {
      ["edit-panel", "reject-panel"].forEach(function (id) { var p = byId(id); if (p) p.open = false; });
      if (document.activeElement && typing(document.activeElement)) document.activeElement.blur();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && typing(event.target)) {
      event.preventDefault();
      submitOnce(event.target.form);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (help && help.open && event.key !== "?") return;
    switch (event.key) {
      case "j": go("next"); break;
      case "k": go("prev"); break;
      case "a": submitOnce(byId("approve-form")); break;
      case "e": openPanel("edit-panel", "edit-body"); break;
      case "r": openPanel("reject-panel", "reject-instruction"); break;
      case "x": toggleSelected(); break;
      case "/": var search = byId("search"); if (search) search.focus(); break;
      case "?": if (help) { if (help.open) help.close(); else help.showModal(); } break;
      default: return;
    }
    event.preventDefault();
  });

  function picks() { return Array.prototype.slice.call(document.querySelectorAll("input.pick")); }

  // The selection outlives the page: j/k load the next draft's page, and the ticked drafts of
  // these filters stay ticked (kept per tab and filters for this browser tab only).
  function pickKey() {
    var back = document.querySelector("#bulk input[name=back]");
    return back ? "overture.picks:" + back.value : null;
  }

  function savePicks() {
    var key = pickKey();
    if (!key || !window.sessionStorage) return;
    var ids = picks().filter(function (p) { return p.checked; }).map(function (p) { return p.value; });
    try { if (ids.length) sessionStorage.setItem(key, JSON.stringify(ids)); else sessionStorage.removeItem(key); }
    catch (e) { /* storage full or off: the selection is then this page's only */ }
  }

  function restorePicks() {
    var key = pickKey();
    if (!key || !window.sessionStorage) return;
    var ids;
    try { ids = JSON.parse(sessionStorage.getItem(key) || "[]"); } catch (e) { ids = []; }
    picks().forEach(function (p) { if (ids.indexOf(p.value) >= 0) p.checked = true; });
  }

  function updateCount() {
    var n = picks().filter(function (p) { return p.checked; }).length;
    var label = byId("selected-count");
    if (label) label.textContent = n ? "(" + n + ")" : "";
    var button = byId("approve-selected");
    if (button) button.disabled = n === 0;
  }

  function toggleSelected() {
    var row = document.querySelector(".item.selected input.pick");
    if (row) { row.checked = !row.checked; updateCount(); savePicks(); }
  }

  document.addEventListener("change", function (event) {
    if (event.target.id === "select-all") {
      picks().forEach(function (p) { p.checked = event.target.checked; });
    }
    if (event.target.classList.contains("pick") || event.target.id === "select-all") { updateCount(); savePicks(); }
  });

  // Approving the selection spends it.
  document.addEventListener("submit", function (event) {
    if (event.target.id === "bulk") { var key = pickKey(); if (key && window.sessionStorage) sessionStorage.removeItem(key); }
  });

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open]");
    if (opener) {
      var id = opener.getAttribute("data-open");
      openPanel(id, id === "edit-panel" ? "edit-body" : "reject-instruction");
    }
  });

  // Poll the counts for this page's filters: new drafts (a redraft, the planner's next run) and
  // other reviewers' work show up as live tab counts and an offer to reload.
  function watch() {
    var live = byId("live");
    if (!live || !window.fetch) return;
    var delay = 5000;
    function poll() {
      if (document.hidden) { setTimeout(poll, delay); return; }
      fetch(live.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (counts) {
          if (!counts) return;
          Object.keys(counts).forEach(function (slug) {
            var badge = document.querySelector('.tab[data-tab="' + slug + '"] .count');
            if (badge) badge.textContent = counts[slug];
          });
          if (String(counts[live.dataset.tab]) !== live.dataset.count) live.hidden = false;
        })
        .catch(function () {})
        .then(function () { setTimeout(poll, delay); });
    }
    setTimeout(poll, delay);
  }

  // Poll the open draft's contact story: a reply that arrives while the reviewer reads it shows
  // up in place (and the draft it cancelled says so). Redrawn only when its fingerprint changes.
  function watchThread() {
    if (!byId("thread") || !window.fetch) return;
    var delay = 3000;
    function poll() {
      var thread = byId("thread");
      if (!thread) return;
      if (document.hidden) { setTimeout(poll, delay); return; }
      fetch(thread.dataset.url, {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var box = document.createElement("div");
          box.innerHTML = html;
          var fresh = box.querySelector("#thread");
          if (fresh && fresh.dataset.fingerprint !== thread.dataset.fingerprint) {
            thread.replaceWith(fresh);
            redrawHead();
          }
        })
        .catch(function () {})
        .then(function () { setTimeout(poll, delay); });
    }
    setTimeout(poll, delay);
  }

  // The contact's story changed (a reply cancelled the draft, say): redraw the draft's header and
  // its buttons from the page as it is now, so no Approve is offered for a draft that cannot be.
  // An open edit or reject panel is left alone while the draft can still be acted on.
  function redrawHead() {
    var live = byId("live");
    if (!live || !window.fetch) return;
    fetch(live.dataset.reload, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var head = document.querySelector(".detail-head"), freshHead = doc.querySelector(".detail-head");
        if (head && freshHead) head.replaceWith(freshHead);
        var actions = document.querySelector(".detail .actions"), freshActions = doc.querySelector(".detail .actions");
        if (actions && freshActions) actions.replaceWith(freshActions);
        if (actions && !freshActions) {
          actions.remove();
          ["edit-panel", "reject-panel"].forEach(function (id) { var p = byId(id); if (p) p.remove(); });
        }
      })
      .catch(function () {});
  }

  // The campaign's Exports tab: while a job is queued or running, fetch the page again and swap in
  // its history (the form keeps what was chosen) until none is left unfinished.
  function pollExports() {
    var box = byId("export-history");
    if (!box || !box.dataset.poll) return;
    window.setTimeout(function () {
      fetch(window.location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          var fresh = html && new DOMParser().parseFromString(html, "text/html").getElementById("export-history");
          if (fresh) box.replaceWith(fresh);
          pollExports();
        })
        .catch(function () { pollExports(); });
    }, Number(box.dataset.poll) || 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    pollExports();
    watch();
    watchThread();
    restorePicks();
    updateCount();
    var selected = document.querySelector(".item.selected");
    if (selected) selected.scrollIntoView({block: "nearest"});
    var open = document.querySelector("details.panel[open] textarea");
    if (open) open.focus();
  });
})();
