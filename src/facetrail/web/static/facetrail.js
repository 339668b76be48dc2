// facetrail web app: small helps only; every page works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A form's error is announced and takes the focus, so keyboard and screen-reader users
  // land on what to fix.
  const error = document.getElementById("error");
  if (error) {
    error.focus();
  }

  // A form that takes a while (a search runs its probes) says so, and is not sent twice.
  for (const form of document.querySelectorAll("form[data-busy]")) {
    form.addEventListener("submit", () => {
      if (form.getAttribute("aria-busy") === "true") {
        return;
      }
      form.setAttribute("aria-busy", "true");
      const status = form.querySelector("[data-busy-status]");
      if (status) {
        status.textContent = form.dataset.busy;
      }
      // After this event: the pressed button's name and value still go with the form.
      window.setTimeout(() => {
        for (const button of form.querySelectorAll("button")) {
          button.disabled = true;
        }
      }, 0);
    });
  }
});
