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

  followJob(document.querySelector("[data-job]"));
});

// A job's page follows the job while it runs: its progress, read from facetrail's API every
// 1.5 s; when the job ends, the page reloads to show its summary (without this script, the
// page reloads itself every few seconds instead).
function followJob(job) {
  if (!job || job.dataset.finished !== "no") {
    return;
  }
  const bar = job.querySelector("progress");
  const count = job.querySelector("[data-job-count]");
  const state = job.querySelector("[data-job-state]");
  const live = job.querySelector("[data-job-live]");
  const words = {
    queued: "Queued", running: "Running", done: "Done", failed: "Failed", cancelled: "Cancelled",
  };
  const poll = async () => {
    let info;
    try {
      const answer = await fetch(job.dataset.job, {
        credentials: "same-origin", headers: {Accept: "application/json"},
      });
      if (!answer.ok) {
        throw new Error(`HTTP ${answer.status}`);
      }
      info = await answer.json();
    } catch (problem) {
      if (live) {
        live.textContent = "The progress could not be read: reload the page to see it.";
      }
      return;
    }
    if (info.total_items !== null) {
      bar.max = Math.max(info.total_items, 1);
      bar.value = info.done_items;
      count.textContent = `${info.done_items} of ${info.total_items} files`;
    }
    const said = words[info.status] || info.status;
    if (state.textContent !== said) {
      state.textContent = said;  // a live region: the change is announced
      state.className = `status state-${info.status}`;
    }
    if (["done", "failed", "cancelled"].includes(info.status)) {
      window.location.reload();
      return;
    }
    window.setTimeout(poll, 1500);
  };
  window.setTimeout(poll, 1500);
}
