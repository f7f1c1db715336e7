// Open the MLflow UI in headless Chromium through the OIDC login and check that an experiment is listed.
//
//   node ui.mjs <mlflow base URL> <experiment name> <screenshot.png>
//
// The user logs in on Keycloak's own login page ($E2E_USERNAME, $E2E_PASSWORD: #username, #password, #kc-login).
// Chromium is Debian's
// (/usr/bin/chromium, or $CHROMIUM), driven by playwright-core; a fresh profile directory per run. Only loopback
// hosts may be contacted: every other request is aborted (and the host resolver maps other names nowhere).
// Prints one JSON line {"ok", "url", "loginPage", "title", "requests", "blocked"}; exit 0 when the experiment was seen, 1 otherwise
// (a screenshot is written in both cases).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, experiment, screenshot] = process.argv.slice(2);
const { E2E_USERNAME: username, E2E_PASSWORD: password } = process.env;
if (!base || !experiment || !screenshot || !username || !password) {
  console.error("usage: E2E_USERNAME=... E2E_PASSWORD=... node ui.mjs <mlflow base URL> <experiment name> <screenshot.png>");
  process.exit(2);
}
const LOCAL = new Set(["localhost", "127.0.0.1", "[::1]"]);
const profile = mkdtempSync(join(tmpdir(), "mlflow-e2e-chromium-"));
const result = { ok: false, requests: 0, blocked: [] };
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"],
    viewport: { width: 1400, height: 900 },
  });
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (["http:", "https:", "ws:", "wss:"].includes(url.protocol) && !LOCAL.has(url.hostname)) {
      result.blocked.push(url.origin);
      return route.abort();
    }
    result.requests += 1;
    return route.continue();
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(60_000);
  // /login -> Keycloak's login page (redirects); the form filled in -> /callback -> the permissions UI
  await page.goto(`${base}/login`, { waitUntil: "load" });
  await page.locator("#kc-form-login").waitFor({ state: "visible" });
  result.loginPage = page.url();
  await page.fill("#username", username);
  await page.fill("#password", password);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("#kc-login")]);
  await page.waitForURL((url) => url.pathname.startsWith("/oidc/ui") || url.pathname === "/", { timeout: 60_000 });
  // the MLflow UI's experiment list
  await page.goto(`${base}/#/experiments`, { waitUntil: "load" });
  await page.getByText(experiment, { exact: true }).first().waitFor({ state: "visible", timeout: 60_000 });
  result.ok = true;
  result.url = page.url();
  result.title = await page.title();
  await page.screenshot({ path: screenshot, fullPage: true });
} catch (error) {
  result.error = String(error && error.stack ? error.stack : error);
  try {
    const page = context && context.pages()[0];
    if (page) {
      result.url = page.url();
      await page.screenshot({ path: screenshot, fullPage: true });
    }
  } catch (screenshotError) {
    result.screenshotError = String(screenshotError);
  }
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
result.blocked = [...new Set(result.blocked)];
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
