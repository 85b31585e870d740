// Behaviour for the server-rendered pages. No inline scripts: the CSP allows only this file.
"use strict";

// The server renders times in the viewer's time zone, which only the browser knows.
(function rememberTimeZone() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && !document.cookie.split("; ").includes("tz=" + encodeURIComponent(zone))) {
    document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
  }
})();

// Diagnosis popovers: open on hover and on keyboard focus, close on Escape or leaving.
function popoverOf(trigger) {
  return document.getElementById(trigger.getAttribute("aria-controls"));
}

function open(trigger) {
  const popover = popoverOf(trigger);
  if (!popover) return;
  document.querySelectorAll(".popover:popover-open").forEach((other) => {
    if (other !== popover) close(document.querySelector('[aria-controls="' + other.id + '"]'));
  });
  // `source` anchors the popover to its trigger: CSS anchor positioning places it, and
  // flips it to stay inside the viewport, with no inline style (which the CSP refuses).
  if (!popover.matches(":popover-open")) popover.showPopover({ source: trigger });
  trigger.setAttribute("aria-expanded", "true");
}

function close(trigger) {
  if (!trigger) return;
  const popover = popoverOf(trigger);
  if (popover && popover.matches(":popover-open")) popover.hidePopover();
  trigger.setAttribute("aria-expanded", "false");
}

function triggerFor(element) {
  const popover = element.closest(".popover");
  if (popover) return document.querySelector('[aria-controls="' + popover.id + '"]');
  return element.closest(".status-trigger");
}

let closing = null;
function closeSoon(trigger) {
  clearTimeout(closing);
  closing = setTimeout(() => close(trigger), 250);
}

document.addEventListener("mouseover", (event) => {
  const trigger = triggerFor(event.target);
  if (trigger && trigger.dataset.dismissed !== "true") {
    clearTimeout(closing);
    open(trigger);
  }
});
document.addEventListener("mouseout", (event) => {
  const trigger = triggerFor(event.target);
  if (trigger && !(event.relatedTarget && triggerFor(event.relatedTarget) === trigger)) {
    delete trigger.dataset.dismissed;
    if (!trigger.parentElement.contains(document.activeElement)) closeSoon(trigger);
  }
});
document.addEventListener("focusin", (event) => {
  const trigger = triggerFor(event.target);
  // Escape gives focus back to the trigger: that must not reopen what was just closed.
  if (trigger && trigger.dataset.dismissed !== "true") {
    clearTimeout(closing);
    open(trigger);
  }
});
document.addEventListener("focusout", (event) => {
  const trigger = triggerFor(event.target);
  if (trigger && !(event.relatedTarget && triggerFor(event.relatedTarget) === trigger)) {
    delete trigger.dataset.dismissed;
    closeSoon(trigger);
  }
});
document.addEventListener("click", (event) => {
  const trigger = event.target.closest(".status-trigger");
  if (trigger) open(trigger);
  // Copy buttons: the text of the element (or <template>) that data-copy names.
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const source = document.getElementById(copy.dataset.copy);
    const text = (source.content || source).textContent;
    navigator.clipboard.writeText(text.trim()).then(() => {
      copy.textContent = "Copied";
    });
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const trigger = triggerFor(document.activeElement) ||
    document.querySelector('.status-trigger[aria-expanded="true"]');
  if (trigger) {
    close(trigger);
    trigger.dataset.dismissed = "true";
    trigger.focus();
  }
});

// A fix's outcome replaces its progress inside an open popover: move the focus there (so
// the popover stays open for keyboard users and screen readers hear it) and bring it into
// view, once, when it arrives (not at each poll of its progress).
document.addEventListener("htmx:afterSettle", () => {
  const popover = document.querySelector(".popover:popover-open");
  const outcome = popover &&
    popover.querySelector('[role="status"]:not([aria-busy]):not([data-seen])');
  if (!outcome) return;
  outcome.dataset.seen = "true";
  outcome.tabIndex = -1;
  outcome.focus({ preventScroll: true });
  outcome.scrollIntoView({ block: "start" });
});

// The Emails table refreshes itself while emails are on their way; not under an open
// popover, whose reader (or a fix's progress in it) it would wipe out, nor while rows are
// selected for a bulk fix. The next one will.
document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.elt.id === "emails-table" && event.detail.requestConfig.verb === "get" &&
      document.querySelector(".popover:popover-open, #emails-table input[name=email]:checked")) {
    event.preventDefault();
  }
});

// "Reschedule selected" applies only once a row is selected.
document.addEventListener("change", (event) => {
  if (!event.target.matches('input[type=checkbox][form="bulk-form"]')) return;
  const selected = document.querySelector('input[type=checkbox][form="bulk-form"]:checked');
  document.querySelectorAll("[data-needs-selection]").forEach((button) => {
    button.disabled = !selected;
  });
});

// Confirmations of fixes: the server sends them as an HX-Trigger "toast" event.
document.addEventListener("toast", (event) => {
  const toast = document.createElement("p");
  toast.className = "toast";
  toast.textContent = event.detail.message;
  document.getElementById("toasts").append(toast);
  setTimeout(() => toast.remove(), 6000);
});
