// facetrail web app: small helps only; every page works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A form's error is announced and takes the focus, so keyboard and screen-reader users
  // land on what to fix.
  const error = document.getElementById("error");
  if (error) {
    error.focus();
  }

  // Compare a candidate's face with the probe's, larger, side by side (the button is shown
  // only where this script runs).
  for (const button of document.querySelectorAll("button[data-zoom]")) {
    const faces = document.getElementById(button.dataset.zoom);
    if (!faces) {
      continue;
    }
    button.hidden = false;
    button.addEventListener("click", () => {
      const zoomed = faces.classList.toggle("zoomed");
      button.setAttribute("aria-pressed", zoomed ? "true" : "false");
      button.textContent = zoomed ? "Compare smaller" : "Compare larger";
    });
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
  pickFaces(document.querySelector("[data-face-picker]"));
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
  // Each read of the job is an audited use of the session: ask often at first, then less
  // (1.5 s growing by half each time to 15 s), so a long ingestion does not fill the log.
  let wait = 1500;
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
    wait = Math.min(wait * 1.5, 15000);
    window.setTimeout(poll, wait);
  };
  window.setTimeout(poll, wait);
}

// The new-search form's face picker. Once a probe photo is chosen and the case number,
// offense, justification and galleries are filled in, the form goes to facetrail's API
// (POST /api/v1/searches/preview: the search's own policy check, then the faces found, nothing
// stored; audited). Each face is boxed over the photo as this computer shows it (an object URL
// of the chosen file: nothing is downloaded to show it) and listed with its quality as a radio
// button named "face", which the search sends. A refusal shows its reason and code. Without
// this script the search takes the largest face.
function pickFaces(picker) {
  if (!picker) {
    return;
  }
  const form = picker.closest("form");
  const probes = form.elements.namedItem("probes");
  const status = picker.querySelector("[data-picker-status]");
  const problem = picker.querySelector("[data-picker-problem]");
  const faces = picker.querySelector("[data-picker-faces]");
  const figures = picker.querySelector("[data-picker-figures]");
  const choices = picker.querySelector("[data-picker-choices]");
  let urls = [];
  let shown = "";  // the photos last looked at (names, sizes and times)
  let refused = false;
  let asked = 0;

  const say = (words) => {
    picker.hidden = false;
    status.textContent = words;
  };
  const clear = () => {
    urls.forEach((url) => URL.revokeObjectURL(url));
    urls = [];
    figures.replaceChildren();
    choices.replaceChildren();
    problem.replaceChildren();
    faces.hidden = true;
  };
  const chosen = () => Array.from(probes.files, (f) => `${f.name}/${f.size}/${f.lastModified}`)
    .join("|");
  const filled = () => ["case_number", "offense", "justification"].every(
    (name) => form.elements.namedItem(name).value.trim() !== "",
  ) && form.querySelector('input[name="galleries"]:checked') !== null;

  const look = async () => {
    const files = probes.files;
    shown = chosen();
    const ticket = ++asked;
    const body = new FormData(form);
    body.delete("face");
    body.delete("csrf_token");
    clear();
    say("Looking for the faces in your photo…");
    picker.setAttribute("aria-busy", "true");
    let answer;
    let info;
    try {
      answer = await fetch(picker.dataset.facePicker, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: {
          "Accept": "application/json",
          // The page's CSRF value: the API takes a cookie session's state changes with it only.
          "X-CSRF-Token": form.elements.namedItem("csrf_token").value,
        },
      });
      info = await answer.json();
    } catch (failure) {
      info = null;
    }
    if (ticket !== asked) {
      return;  // another photo was chosen meanwhile
    }
    picker.removeAttribute("aria-busy");
    if (!answer || info === null) {
      refused = true;
      say("The faces could not be found just now; the search takes the largest face.");
      return;
    }
    if (!answer.ok) {
      refused = true;
      say("");
      showProblem(info);
      return;
    }
    refused = false;
    await draw(files, info, ticket);
  };

  const showProblem = (info) => {
    const box = document.createElement("div");
    box.className = "error-summary";
    box.setAttribute("role", "alert");
    const title = document.createElement("h2");
    title.textContent = info.detail || "The faces could not be found.";
    const code = document.createElement("code");
    code.textContent = info.code || "error";
    const line = document.createElement("p");
    line.append("Code: ", code, info.subject ? ` · about: ${info.subject}` : "");
    const after = document.createElement("p");
    after.textContent = "The search would be refused for the same reason: correct the form "
      + "and the faces are looked for again.";
    box.append(title, line, after);
    problem.replaceChildren(box);
  };

  // The faces of each photo, in the photos' order (the API lists them so).
  const draw = async (files, found, ticket) => {
    const perPhoto = Array.from(files, (file) => ({
      file, faces: found.filter((f) => f.probe === file.name),
    }));
    const counts = perPhoto.map((p) => p.faces.length);
    const sizes = await Promise.all(perPhoto.map((p) => figure(p.file, p.faces)));
    if (ticket !== asked) {
      return;  // another photo was chosen while these were shown
    }
    const empty = perPhoto.filter((p) => p.faces.length === 0).map((p) => p.file.name);
    if (empty.length) {
      showProblem({
        detail: `No face was found in ${empty.join(", ")}: the search would fail. `
          + "Choose another photo.",
        code: "no_face",
      });
    }
    // A crowd (a demonstration, an assembly): said before the search is spent, with what the
    // agency's policy does with it (held for a supervisor's approval, or refused).
    const crowd = [...new Set(found.map((f) => f.crowd).filter(Boolean))];
    if (crowd.length) {
      const box = document.createElement("div");
      box.className = "error-summary crowd-warning";
      box.setAttribute("role", "alert");
      const title = document.createElement("h2");
      title.textContent = "This photo is a crowd";
      const line = document.createElement("p");
      line.textContent = `It is ${crowd.join("; ")}. A face searched out of it is recorded `
        + "as chosen from a crowd.";
      box.append(title, line);
      problem.append(box);
    }
    const offered = Math.min(...counts);
    for (let index = 0; index < offered; index++) {
      choices.append(choice(index, perPhoto, sizes));
    }
    faces.hidden = offered === 0;
    const total = counts.reduce((a, b) => a + b, 0);
    say(offered === 0 ? "" : `${total} ${total === 1 ? "face" : "faces"} found: the largest `
      + "is chosen; pick another below if it is not your subject.");
    mark(0);
  };

  // One photo, shown from this computer, with its faces boxed and numbered; -> its size.
  const figure = async (file, found) => {
    const url = URL.createObjectURL(file);
    urls.push(url);
    const frame = document.createElement("div");
    frame.className = "probe-frame";
    const img = document.createElement("img");
    const faceWords = found.length === 1 ? "face" : `${found.length} faces`;
    img.alt = `Your photo ${file.name}, with the ${faceWords} found in it boxed and numbered`;
    img.src = url;
    frame.append(img);
    const caption = document.createElement("figcaption");
    caption.textContent = file.name;
    const shell = document.createElement("figure");
    shell.append(frame, caption);
    figures.append(shell);
    try {
      await img.decode();
    } catch (failure) {
      caption.textContent = `${file.name} (this browser cannot show this kind of image; `
        + "its faces are listed below)";
      return null;
    }
    const size = {width: img.naturalWidth, height: img.naturalHeight};
    for (const face of found) {
      const [x1, y1, x2, y2] = face.bbox;
      const box = document.createElement("div");
      box.className = "face-box";
      box.dataset.face = String(face.index);
      box.setAttribute("aria-hidden", "true");  // the list below says the same in words
      box.style.left = `${(100 * Math.max(0, x1)) / size.width}%`;
      box.style.top = `${(100 * Math.max(0, y1)) / size.height}%`;
      box.style.width = `${(100 * (Math.min(x2, size.width) - Math.max(0, x1))) / size.width}%`;
      box.style.height = `${(100 * (Math.min(y2, size.height) - Math.max(0, y1))) / size.height}%`;
      const number = document.createElement("span");
      number.textContent = String(face.index + 1);
      box.append(number);
      box.addEventListener("click", () => {
        const radio = choices.querySelector(`input[value="${face.index}"]`);
        if (radio) {
          radio.checked = true;
          radio.focus();
          mark(face.index);
        }
      });
      frame.append(box);
    }
    return size;
  };

  // "Face 2" and "right, middle of the photo; detector score 0.91, eyes 48 px apart,
  // sharpness 120, turned 12°" (for each photo, when there are several).
  const choice = (index, perPhoto, sizes) => {
    const label = document.createElement("label");
    label.className = "choice face-choice";
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "face";
    radio.value = String(index);
    radio.checked = index === 0;
    const name = document.createElement("strong");
    name.textContent = `Face ${index + 1}${index === 0 ? " (largest)" : ""}`;
    const words = perPhoto.map((p, i) => {
      const f = p.faces[index];
      const where = sizes[i] ? `${place(f.bbox, sizes[i])}; ` : "";
      const photo = perPhoto.length > 1 ? `${p.file.name}: ` : "";
      return `${photo}${where}detector score ${f.detector_score.toFixed(2)}, `
        + `eyes ${Math.round(f.inter_eye_px)} px apart, sharpness ${Math.round(f.blur)}, `
        + `turned ${Math.round(Math.abs(f.yaw_deg))}°`;
    });
    const quality = document.createElement("span");
    quality.className = "muted";
    quality.textContent = words.join(" · ");
    label.append(radio, name, quality);
    // What makes the face poor to search, said before the search is spent on it.
    const poor = perPhoto.flatMap((p) => p.faces[index].warnings || []);
    if (poor.length) {
      const warning = document.createElement("span");
      warning.className = "quality-warning";
      warning.textContent = `Poor to search: ${poor.join("; ")}.`;
      label.append(warning);
    }
    radio.addEventListener("change", () => mark(index));
    return label;
  };

  // Where a face is in its photo, in words (for people who do not see the boxes).
  const place = (bbox, size) => {
    const x = (bbox[0] + bbox[2]) / 2 / size.width;
    const y = (bbox[1] + bbox[3]) / 2 / size.height;
    const across = x < 1 / 3 ? "left" : x > 2 / 3 ? "right" : "centre";
    const down = y < 1 / 3 ? "top" : y > 2 / 3 ? "bottom" : "middle";
    return `${across}, ${down} of the photo`;
  };

  const mark = (index) => {
    for (const box of figures.querySelectorAll(".face-box")) {
      box.classList.toggle("chosen", box.dataset.face === String(index));
    }
  };

  form.addEventListener("change", (event) => {
    if (event.target.name === "face") {
      return;
    }
    if (!probes.files.length) {
      shown = "";
      clear();
      picker.hidden = true;
      return;
    }
    if (shown === chosen() && !refused) {
      return;  // these photos' faces are shown already
    }
    if (!filled()) {
      clear();
      say("Fill in the case number, offense, galleries and justification to see the faces "
        + "found in your photo.");
      return;
    }
    look();
  });
}
