// AgentGate dashboard: modals (focus trapped, Escape closes, focus returns), live fragments over server-sent
// events, copy buttons and local times. Every page works without this file; it only makes them nicer.
(function () {
  "use strict";

  document.documentElement.classList.remove("no-js");
  document.documentElement.classList.add("js");

  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
  var openModal = null;
  var returnFocus = null;

  function announce(text) {
    var region = document.getElementById("live-region");
    if (region) {
      region.textContent = "";
      window.setTimeout(function () { region.textContent = text; }, 50);
    }
  }

  function focusables(modal) {
    return Array.prototype.filter.call(modal.querySelectorAll(FOCUSABLE), function (el) {
      return el.offsetParent !== null || el === document.activeElement;
    });
  }

  function show(backdrop, trigger, first) {
    returnFocus = trigger || document.activeElement;
    backdrop.hidden = false;
    openModal = backdrop;
    var target = first || focusables(backdrop)[0];
    if (target) { target.focus(); }
  }

  function close() {
    if (!openModal) { return; }
    openModal.hidden = true;
    openModal = null;
    if (returnFocus && document.contains(returnFocus) && !returnFocus.disabled) {
      returnFocus.focus();
    } else {
      var main = document.getElementById("main");
      if (main) { main.focus(); }
    }
    returnFocus = null;
  }

  document.addEventListener("keydown", function (event) {
    if (!openModal) { return; }
    if (event.key === "Escape") {
      event.preventDefault();
      close();
      return;
    }
    if (event.key !== "Tab") { return; }
    var items = focusables(openModal);
    if (items.length === 0) { event.preventDefault(); return; }
    var first = items[0];
    var last = items[items.length - 1];
    var inside = openModal.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) { return; }
    if (target.closest("[data-modal-cancel]")) { close(); return; }
    if (openModal && target === openModal) { close(); return; }

    var decide = target.closest("button[data-decide]");
    if (decide && !decide.disabled) {
      var modal = document.getElementById("decide-modal");
      if (!modal) { return; }
      event.preventDefault();
      var verdict = decide.getAttribute("data-decide");
      var title = modal.querySelector("#decide-title");
      title.textContent = title.getAttribute("data-title-" + verdict);
      modal.querySelector("[data-decision-input]").value = verdict;
      var confirm = modal.querySelector("[data-decide-confirm]");
      confirm.textContent = confirm.getAttribute("data-label-" + verdict);
      confirm.className = "button " + (verdict === "approved" ? "approve" : "danger");
      confirm.disabled = false;
      show(modal, decide, modal.querySelector("textarea"));
      return;
    }

    var copy = target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          copy.textContent = "Copied";
          announce("Copied to the clipboard");
        });
      }
    }
  });

  // Destructive forms ask first, in the confirmation modal.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) { return; }
    event.preventDefault();
    var modal = document.getElementById("confirm-modal");
    modal.querySelector("#confirm-message").textContent = form.getAttribute("data-confirm");
    var ok = modal.querySelector("[data-confirm-ok]");
    ok.onclick = function () { close(); form.submit(); };
    show(modal, event.submitter || form.querySelector("button"), modal.querySelector("[data-modal-cancel]"));
  });

  // Times in the reader's own zone (the server writes UTC).
  function localTimes(root) {
    Array.prototype.forEach.call(root.querySelectorAll("time[datetime]"), function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        el.title = el.textContent;
        el.textContent = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      }
    });
  }

  // After a live swap on a request's page: a request decided elsewhere closes the decision modal.
  function afterSwap(root) {
    localTimes(root);
    var summary = document.querySelector("[data-request-status]");
    if (summary && summary.getAttribute("data-request-status") !== "pending") {
      var modal = document.getElementById("decide-modal");
      if (modal) {
        var confirm = modal.querySelector("[data-decide-confirm]");
        if (confirm) { confirm.disabled = true; }
        if (openModal === modal) { close(); }
      }
    }
  }

  document.addEventListener("htmx:afterSwap", function (event) { afterSwap(event.target); });
  // A failed refresh (signed out, server gone) keeps what is shown rather than emptying it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr && event.detail.xhr.status >= 400) { event.detail.shouldSwap = false; }
  });

  var pending = null;
  var changedRequests = {};

  function refresh() {
    pending = null;
    var ids = changedRequests;
    changedRequests = {};
    if (!window.htmx) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("[data-live]"), function (el) {
      var only = el.getAttribute("data-live-request");
      if (only && !ids[only]) { return; }
      window.htmx.ajax("GET", el.getAttribute("data-live"), { target: el, swap: "outerHTML" });
    });
  }

  function onEvent(kind) {
    return function (message) {
      var requestId = null;
      var action = null;
      try {
        var body = JSON.parse(message.data);
        var request = body && body.data && body.data.request;
        if (request) { requestId = request.id; action = request.action; }
      } catch (e) { /* a body we do not understand still triggers a refresh */ }
      if (requestId) { changedRequests[requestId] = true; }
      if (kind === "request.created" && action) { announce("New request: " + action); }
      if (kind === "request.decided" || kind === "request.expired") {
        var summary = document.querySelector("[data-live-request]");
        if (summary && summary.getAttribute("data-live-request") === requestId) {
          announce(kind === "request.expired" ? "This request expired." : "This request was decided.");
        }
      }
      // Bursts of events become one refresh.
      if (!pending) { pending = window.setTimeout(refresh, 250); }
    };
  }

  function connect() {
    var url = document.body.getAttribute("data-events");
    if (!url || !window.EventSource || !document.querySelector("[data-live]")) { return; }
    var source = new EventSource(url);
    ["request.created", "request.decided", "request.expired"].forEach(function (kind) {
      source.addEventListener(kind, onEvent(kind));
    });
  }

  function start() {
    localTimes(document);
    connect();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
