// The job console: a client of the public API only (the same routes the CLI uses).
// Every value from the API is shown with textContent, never parsed as HTML.
"use strict";

const LIST_EVERY_MS = 1000;
const $ = (id) => document.getElementById(id);
let selected = null; // { id, abort: AbortController }

function headers(extra = {}) {
  const h = { accept: "application/json", ...extra };
  const token = $("token").value.trim();
  if (token) h.authorization = `Bearer ${token}`;
  return h;
}

/** A JSON text laid out for editing; left as it is when it is not JSON. */
function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function newKey() {
  if (crypto.randomUUID) return `console-${crypto.randomUUID()}`;
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "console-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A problem document (RFC 9457) as text: title, detail, fields, correlation id. */
function describeProblem(status, body) {
  if (!body || typeof body !== "object") return `The API answered ${status}.`;
  const lines = [`${body.title || body.message || "Error"} (${body.status || status})`];
  if (body.detail && body.detail !== body.title) lines.push(body.detail);
  for (const e of body.errors || []) lines.push(`${e.pointer || "/"}: ${e.message}`);
  if (body.correlation_id) lines.push(`correlation id: ${body.correlation_id}`);
  return lines.join("\n");
}

async function api(method, path, { body, extra, signal } = {}) {
  const init = { method, headers: headers(extra), signal };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const res = await fetch(path, init);
  let doc = null;
  const text = await res.text();
  if (text) {
    try { doc = JSON.parse(text); } catch { doc = null; }
  }
  return { res, doc, text };
}

function setConnection(ok, text) {
  const el = $("connection");
  el.textContent = text;
  el.dataset.ok = ok ? "true" : "false";
}

function short(id) { return id.split("-")[0]; }

function statusBadge(status) {
  const span = document.createElement("span");
  span.className = `status status-${status}`;
  span.textContent = status;
  return span;
}

function percentOf(job) {
  if (job.status === "completed") return 100;
  return job.progress ? job.progress.percent : 0;
}

// ---- the list ------------------------------------------------------------------------------

async function refreshList() {
  const status = $("status-filter").value;
  const query = new URLSearchParams({ limit: "25" });
  if (status) query.set("status", status);
  try {
    const { res, doc } = await api("GET", `/jobs?${query}`);
    if (!res.ok) {
      setConnection(false, describeProblem(res.status, doc));
      return;
    }
    setConnection(true, `live · ${new Date().toLocaleTimeString()}`);
    renderList(doc.jobs || []);
  } catch (err) {
    setConnection(false, `cannot reach the API: ${err.message}`);
  }
}

function renderList(jobs) {
  const body = $("jobs").tBodies[0];
  const rows = jobs.map((job) => {
    const tr = document.createElement("tr");
    tr.dataset.id = job.id;
    tr.dataset.status = job.status;
    tr.setAttribute("aria-selected", selected && selected.id === job.id ? "true" : "false");
    const idCell = document.createElement("td");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "link";
    open.textContent = short(job.id);
    open.title = job.id;
    open.setAttribute("aria-label", `Show job ${job.id}`);
    idCell.append(open);
    const typeCell = document.createElement("td");
    typeCell.textContent = job.type;
    const statusCell = document.createElement("td");
    statusCell.append(statusBadge(job.status));
    const progressCell = document.createElement("td");
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = percentOf(job);
    bar.setAttribute("aria-label", `${percentOf(job)} percent`);
    progressCell.append(bar);
    const created = document.createElement("td");
    created.textContent = new Date(job.created_at).toLocaleTimeString();
    created.title = job.created_at;
    tr.append(idCell, typeCell, statusCell, progressCell, created);
    tr.addEventListener("click", () => select(job.id));
    return tr;
  });
  body.replaceChildren(...rows);
  $("no-jobs").hidden = jobs.length > 0;
}

async function listLoop() {
  for (;;) {
    if (document.visibilityState === "visible") await refreshList();
    await new Promise((r) => setTimeout(r, LIST_EVERY_MS));
  }
}

// ---- one job -------------------------------------------------------------------------------

function select(id) {
  if (selected) selected.abort.abort();
  selected = { id, abort: new AbortController() };
  for (const tr of $("jobs").tBodies[0].rows) {
    tr.setAttribute("aria-selected", tr.dataset.id === id ? "true" : "false");
  }
  $("detail").hidden = false;
  $("detail-id").textContent = id;
  // Nothing of the previous job stays on screen while this one loads.
  $("detail-status").className = "status";
  $("detail-status").textContent = "loading";
  $("detail-progress-text").textContent = "";
  for (const list of ["detail-fields", "timeline"]) $(list).replaceChildren();
  $("detail-error").hidden = true;
  $("result-box").hidden = true;
  $("result").textContent = "";
  follow(selected);
}

/** Long-polls the job: each answer comes as soon as it changes, or after 20 s unchanged. */
async function follow(sel) {
  let etag = null;
  let first = true;
  while (!sel.abort.signal.aborted) {
    const extra = etag ? { "if-none-match": etag } : {};
    const wait = first ? "" : "?wait=20";
    first = false;
    let answer;
    try {
      answer = await api("GET", `/jobs/${encodeURIComponent(sel.id)}${wait}`, {
        extra, signal: sel.abort.signal,
      });
    } catch (err) {
      if (sel.abort.signal.aborted) return;
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    const { res, doc } = answer;
    if (res.status === 304) continue;
    if (!res.ok) {
      showError(describeProblem(res.status, doc));
      return;
    }
    etag = res.headers.get("etag");
    renderJob(doc);
    if (["completed", "failed", "cancelled"].includes(doc.status)) {
      if (doc.status === "completed") await showResult(sel, doc.id);
      return;
    }
  }
}

function renderJob(job) {
  const status = $("detail-status");
  status.className = `status status-${job.status}`;
  status.textContent = job.status;
  const percent = percentOf(job);
  $("detail-progress").value = percent;
  const message = job.progress && job.progress.message ? ` · ${job.progress.message}` : "";
  $("detail-progress-text").textContent = `${percent}%${message}`;
  const fields = [
    ["type", job.type], ["attempts", String(job.attempts)],
    ["correlation id", job.correlation_id], ["callback", job.callback_url],
  ];
  $("detail-fields").replaceChildren(...fields.filter(([, v]) => v).flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    return [dt, dd];
  }));
  const steps = [
    [job.created_at, "submitted"],
    [job.started_at, `started (attempt ${job.attempts})`],
    [job.retry_at, "retry scheduled"],
    [job.cancel_requested_at, "cancel requested"],
    [job.finished_at, job.status],
  ].filter(([at]) => at).sort(([a], [b]) => a.localeCompare(b));
  $("timeline").replaceChildren(...steps.map(([at, what]) => {
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.dateTime = at;
    time.textContent = new Date(at).toLocaleTimeString();
    li.append(time, ` ${what}`);
    return li;
  }));
  const error = $("detail-error");
  error.hidden = !job.error;
  error.textContent = job.error ? `${job.error.code}: ${job.error.message}` : "";
  $("detail-input").textContent = JSON.stringify(job.input, null, 2) ?? "";
  $("cancel-button").disabled = !["pending", "running"].includes(job.status)
    || Boolean(job.cancel_requested_at);
}

async function showResult(sel, id) {
  const { res, doc, text } = await api("GET", `/jobs/${encodeURIComponent(id)}/result`, {
    signal: sel.abort.signal,
  });
  $("result").textContent = res.ok
    ? JSON.stringify(doc, null, 2) ?? text
    : describeProblem(res.status, doc);
  $("result-box").hidden = false;
}

function showError(text) {
  const error = $("detail-error");
  error.hidden = false;
  error.textContent = text;
}

// ---- actions -------------------------------------------------------------------------------

async function submitJob(event) {
  event.preventDefault();
  const problem = $("submit-problem");
  problem.hidden = true;
  let input;
  try {
    input = JSON.parse($("job-input").value);
  } catch (err) {
    problem.textContent = `The input is not JSON: ${err.message}`;
    problem.hidden = false;
    return;
  }
  const request = { type: $("job-type").value, input };
  const callback = $("callback").value.trim();
  if (callback) request.callback_url = callback;
  const button = $("submit-button");
  button.disabled = true;
  try {
    // The key as the IETF draft sends it: a structured-field string.
    const { res, doc } = await api("POST", "/jobs", {
      body: request, extra: { "idempotency-key": `"${newKey()}"` },
    });
    if (res.status !== 202) {
      problem.textContent = describeProblem(res.status, doc);
      problem.hidden = false;
      return;
    }
    select(doc.id);
    await refreshList();
  } catch (err) {
    problem.textContent = `cannot reach the API: ${err.message}`;
    problem.hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function cancelSelected() {
  if (!selected) return;
  const { res, doc } = await api("DELETE", `/jobs/${encodeURIComponent(selected.id)}`);
  if (!res.ok) showError(describeProblem(res.status, doc));
  else renderJob(doc);
}

// ---- job types -----------------------------------------------------------------------------

let typesTag = null; // the ETag of the list shown

/** Fills the type picker from GET /job-types: the server's own types, declared or in Rust. */
async function loadTypes() {
  const problem = $("submit-problem");
  const extra = typesTag ? { "if-none-match": typesTag } : {};
  let answer;
  try {
    answer = await api("GET", "/job-types", { extra });
  } catch (err) {
    problem.textContent = `cannot reach the API: ${err.message}`;
    problem.hidden = false;
    return;
  }
  const { res, doc } = answer;
  if (res.status === 304) return;
  if (!res.ok) {
    problem.textContent = describeProblem(res.status, doc);
    problem.hidden = false;
    return;
  }
  problem.hidden = true;
  typesTag = res.headers.get("etag");
  const picker = $("job-type");
  const previous = picker.value;
  const options = (doc.job_types || []).map((type) => {
    const option = document.createElement("option");
    option.value = type.type;
    option.textContent = type.type;
    option.dataset.example = JSON.stringify(type.example_input ?? {});
    option.dataset.description = type.description ?? "";
    return option;
  });
  picker.replaceChildren(...options);
  if (options.some((o) => o.value === previous)) picker.value = previous;
  showExample();
}

function showExample() {
  const option = $("job-type").selectedOptions[0];
  $("job-input").value = option ? prettyJson(option.dataset.example ?? "{}") : "{}";
  $("job-type-description").textContent = option ? option.dataset.description : "";
}

document.addEventListener("DOMContentLoaded", () => {
  $("job-type").addEventListener("change", showExample);
  $("token").addEventListener("change", loadTypes);
  $("submit-form").addEventListener("submit", submitJob);
  $("cancel-button").addEventListener("click", cancelSelected);
  $("status-filter").addEventListener("change", refreshList);
  loadTypes();
  listLoop();
});
