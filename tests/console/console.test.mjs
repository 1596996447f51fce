// The job console in a real headless browser (Chromium through playwright-core): it loads with
// no script or policy error, offers the types of GET /job-types (a declared one among them), submits a demo.sleep job that reaches `completed` with its
// progress, timeline and result, shows a refused submit's problem with its field, and cancels
// a running job. A screenshot is kept as a CI artifact.
//
// Usage: node tests/console/console.test.mjs
//   ACCEPTED_BIN  the `accepted` binary (default target/debug/accepted)
//   CHROMIUM      the browser (default: chromium on PATH)
//   ARTIFACTS     where the screenshot goes (default .local/artifacts)
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(join(root, ".local/node/"));
const { chromium } = require("playwright-core");

const binary = process.env.ACCEPTED_BIN ?? join(root, "target/debug/accepted");
const browserPath = process.env.CHROMIUM ?? execFileSync("sh", ["-c", "command -v chromium"])
  .toString().trim();
const artifacts = process.env.ARTIFACTS ?? join(root, ".local/artifacts");

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    }).on("error", fail);
  });
}

/** `accepted serve` on the embedded backend; resolves once it logs "listening". */
async function startServer(dataDir) {
  const port = await freePort();
  const child = spawn(binary, ["serve", "--port", String(port), "--data-dir", dataDir,
    "--batch-window-ms", "20", "--job-types", join(root, "tests/targets/job-types.yaml")],
    { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error("no listening line in 30 s")), 30_000);
    child.on("exit", (code) => fail(new Error(`accepted exited with ${code}`)));
    lines.on("line", (line) => {
      if (line.includes('"listening"')) { clearTimeout(timer); ok(); }
    });
  });
  lines.on("line", () => {}); // keep draining
  return { child, base: `http://127.0.0.1:${port}` };
}

const step = (name) => console.log(`[console] ${name}`);

/**
 * Chromium, launched up to three times: a browser that dies while starting (CI has seen a
 * SIGSEGV before the first page, with a release build running beside it) says nothing about
 * the console, so only a launch is retried, never a check.
 */
async function launchBrowser() {
  const options = { executablePath: browserPath, args: ["--no-sandbox", "--disable-gpu"] };
  for (let attempt = 1; ; attempt++) {
    try {
      return await chromium.launch(options);
    } catch (err) {
      if (attempt === 3) throw err;
      console.log(`[console] Chromium did not start (attempt ${attempt}): ${err.message.split("\n")[0]}`);
      await new Promise((ok) => setTimeout(ok, 2_000));
    }
  }
}

const dataDir = mkdtempSync(join(tmpdir(), "accepted-console-"));
const server = await startServer(dataDir);
const browser = await launchBrowser();
// Debian's archive keeps only its current build: say which one this run drove.
console.log(`[console] ${browserPath}: Chromium ${browser.version()}`);
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));

  step("the page loads and goes live");
  const response = await page.goto(`${server.base}/`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-security-policy"], /script-src 'self'/);
  assert.equal(await page.title(), "accepted — jobs");
  await page.getByRole("status").filter({ hasText: "live" }).waitFor({ timeout: 10_000 });
  assert.ok(await page.getByText("No jobs yet").isVisible());

  step("the type picker is GET /job-types: built-in and declared types, with examples");
  const picker = page.getByLabel("Type");
  await picker.locator('option[value="test.behave"]').waitFor({ state: "attached" });
  const offered = await picker.locator("option").evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(offered, ["csv.summary", "demo.sleep", "test.behave"]);
  await picker.selectOption("test.behave");
  assert.deepEqual(JSON.parse(await page.getByLabel("Input (JSON)").inputValue()),
    { behave: "ok", text: "hello" });
  assert.match(await page.locator("#job-type-description").textContent(), /Does what its input says/);

  step("submit a demo.sleep job and follow it to completed");
  await page.getByLabel("Type").selectOption("demo.sleep");
  await page.getByLabel("Input (JSON)").fill('{"duration_ms": 1500}');
  await page.getByRole("button", { name: "Submit" }).click();
  const detail = page.locator("#detail");
  await detail.waitFor({ state: "visible" });
  await page.locator("#detail-status", { hasText: "running" }).waitFor({ timeout: 15_000 });
  await page.locator("#detail-status", { hasText: "completed" }).waitFor({ timeout: 30_000 });
  assert.equal(await page.locator("#detail-progress").getAttribute("value"), "100");
  const timeline = await page.locator("#timeline li").allTextContents();
  assert.ok(timeline.some((t) => t.includes("submitted")), timeline.join(" | "));
  assert.ok(timeline.some((t) => t.includes("started (attempt 1)")), timeline.join(" | "));
  assert.ok(timeline.some((t) => t.includes("completed")), timeline.join(" | "));
  await page.locator("#result-box").waitFor({ state: "visible" });
  const result = JSON.parse(await page.locator("#result").textContent());
  assert.equal(typeof result, "object");
  const row = page.locator("#jobs tbody tr").first();
  await row.locator(".status", { hasText: "completed" }).waitFor({ timeout: 5_000 });

  step("a refused submit shows the problem and its field");
  await page.getByLabel("Input (JSON)").fill('{"duration_ms": -1}');
  await page.getByRole("button", { name: "Submit" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor({ state: "visible" });
  const said = await alert.textContent();
  assert.match(said, /\(422\)/);
  assert.match(said, /\/input\/duration_ms/);
  assert.match(said, /correlation id: /);

  step("a CSV job, then cancel a long job from the page");
  await page.getByLabel("Type").selectOption("csv.summary");
  assert.match(await page.getByLabel("Input (JSON)").inputValue(), /"csv"/);
  const before = await page.locator("#detail-id").textContent();
  await page.getByRole("button", { name: "Submit" }).click();
  await page.waitForFunction((id) => document.getElementById("detail-id").textContent !== id,
    before);
  await page.locator("#detail-status", { hasText: "completed" }).waitFor({ timeout: 30_000 });
  await page.locator("#result-box").waitFor({ state: "visible" });
  assert.equal(JSON.parse(await page.locator("#result").textContent()).rows, 3);
  await page.getByLabel("Type").selectOption("demo.sleep");
  await page.getByLabel("Input (JSON)").fill('{"duration_ms": 20000}');
  await page.getByRole("button", { name: "Submit" }).click();
  await page.locator("#detail-status", { hasText: "running" }).waitFor({ timeout: 15_000 });
  await page.getByRole("button", { name: "Cancel job" }).click();
  await page.locator("#detail-status", { hasText: "cancelled" }).waitFor({ timeout: 30_000 });
  await page.locator("#jobs tbody tr").nth(2).waitFor();
  assert.equal(await page.locator("#jobs tbody tr").count(), 3);

  step("the status filter");
  await page.getByLabel("Status").selectOption("completed");
  await page.waitForFunction(() => document.querySelectorAll("#jobs tbody tr").length === 2);

  step("screenshot");
  await page.getByLabel("Status").selectOption("");
  await page.waitForFunction(() => document.querySelectorAll("#jobs tbody tr").length === 3);
  await page.locator("#jobs tbody tr").nth(1).click();
  await page.locator("#result-box").waitFor({ state: "visible" });
  mkdirSync(artifacts, { recursive: true });
  const shot = join(artifacts, "console.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`[console] screenshot: ${shot}`);

  // The one refusal this test asks for is logged by the browser as a failed load; anything
  // else (a script error, a policy violation, a missing asset) fails the test.
  const expected = "Failed to load resource: the server responded with a status of 422";
  assert.deepEqual(problems.filter((p) => !p.startsWith(expected)), [],
    "the page logged errors");
  console.log("[console] all checks passed");
} finally {
  await browser.close();
  server.child.kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
}
