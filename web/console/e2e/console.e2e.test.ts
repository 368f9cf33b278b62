/**
 * The clinician console in a real browser: headless Chromium (the Debian package, driven by
 * playwright-core; no browser is ever downloaded) against a real `hub serve` that this file
 * starts on free ports with a temporary journal, serving the built console at /console.
 *
 *   npm run e2e --prefix web/console          (CHROMIUM=/path/to/chromium to use another)
 *
 * Alerts come in as HL7 v2 ORU^R01 over MLLP (the hl7_results plugin turns OBX-8 flags into
 * patient_alert); beds, triage and NEWS2 scores are posted to POST /api/events with a service
 * token. The steps share one hub, one browser and their screens, and run in order:
 *
 *  1. sign-in with a pasted nurse token, "connected"
 *  2. two HL7 results -> two alerts in the panel, unread badge 2
 *  3. a second nurse's screen shows them too; acknowledging on the first clears both screens
 *  4. a bed changes status and colour on bed_status_changed
 *  5. triage queue, patient view, operator page (admin): rendered, screenshots
 *  6. hub restart (SIGTERM, same journal and port): "reconnecting…", an alert sent while the
 *     console is still away arrives after the reconnect ("resumed N missed events"), nothing
 *     lost or doubled
 *  7. a screen signing in mid-shift (fresh browser context) lists the alerts still open,
 *     raised before it signed in (GET /api/alerts), not the acknowledged one
 *
 * Layout is checked as well as pictured: the triage queue at 1024, 1280 and 1920 px wide
 * (no table overflowing its column or card, no columns overlapping), a bed with a long id.
 *
 * Screenshots of every screen go to e2e/screenshots/ (gitignored).
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { request, sleep, TestHub, waitFor } from "../../client/test/hub";

const HERE = dirname(fileURLToPath(import.meta.url));
const CONSOLE = resolve(HERE, "..");
const DIST = join(CONSOLE, "dist");
const SHOTS = join(HERE, "screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const H = "H1";
/** How long a screen may take to follow the hub (a live event is milliseconds). */
const UI_MS = 15_000;
/** A reconnect after an outage: socket.io backs off up to 10 s between attempts. */
const RECONNECT_MS = 40_000;

// --- the build -----------------------------------------------------------------------------

function newest(path: string): number {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

/** Builds the console (and the client it bundles) unless dist is newer than every source. */
function ensureBuilt(): void {
  const built = newest(join(DIST, "index.html"));
  const sources = Math.max(
    ...[
      "src",
      "index.html",
      "public",
      "vite.config.ts",
      "package.json",
      "../client/src",
      "../client/package.json",
    ].map((p) => newest(join(CONSOLE, p))),
  );
  if (built > sources) return;
  const started = Date.now();
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(npm, ["run", "build", "--prefix", CONSOLE], {
    encoding: "utf8",
    stdio: "pipe",
    timeout: 280_000,
  });
  if (result.status !== 0) {
    throw new Error(
      `npm run build --prefix web/console failed (${result.status ?? result.signal}):\n` +
        `${result.stdout}\n${result.stderr}`.slice(-6000),
    );
  }
  console.log(`built the console in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// --- the hub -------------------------------------------------------------------------------

/** web/client's test hub, serving this console's build. */
class ConsoleHub extends TestHub {
  override env(): NodeJS.ProcessEnv {
    return { ...super.env(), HUB_SERVER__CONSOLE_DIR: DIST };
  }
}

/** One HL7 message over MLLP (VT ... FS CR); resolves with the ACK's text. */
function sendMllp(port: number, message: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((ok, fail) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error(`no MLLP ACK within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("connect", () => {
      socket.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(message, "utf8"), Buffer.from([0x1c, 0x0d])]));
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      const end = all.indexOf(Buffer.from([0x1c, 0x0d]));
      if (end >= 0) {
        clearTimeout(timer);
        socket.end();
        ok(all.subarray(all.indexOf(0x0b) + 1, end).toString("utf8"));
      }
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      fail(err);
    });
  });
}

/** Now as an HL7 DTM with milliseconds: the panel orders alerts by this time (OBX-14). */
const hl7Now = (): string => new Date().toISOString().replace(/[-:T]/g, "").replace("Z", "+0000");

/** An ORU^R01 with one OBX: the hl7_results plugin makes it a patient_alert for `patient`. */
function oru(control: string, patient: string, bed: string, obx: string): string {
  const now = hl7Now();
  return (
    [
      `MSH|^~\\&|LAB|${H}|HUB|${H}|${now}||ORU^R01^ORU_R01|${control}|P|2.5.1`,
      `PID|1||${patient}^^^HOSP^MR||Doe^Jane`,
      `PV1|1|I|E2E^R1^${bed}^${H}`,
      `OBR|1|PLC-${control}|ORD-${control}|24326-1^Electrolytes panel^LN|||${now}`,
      obx.replace("{now}", now),
    ].join("\r") + "\r"
  );
}

const OBX = {
  potassium: "OBX|1|NM|2823-3^Potassium^LN||6.9|mmol/L^mmol/L^UCUM|3.5-5.1|HH|||F|||{now}",
  sodium: "OBX|1|NM|2951-2^Sodium^LN||131|mmol/L^mmol/L^UCUM|135-145|L|||F|||{now}",
  glucose: "OBX|1|NM|2345-7^Glucose^LN||1.9|mmol/L^mmol/L^UCUM|3.9-7.8|LL|||F|||{now}",
};
const TEXT = {
  potassium: "Potassium 6.9 mmol/L (critical high)",
  sodium: "Sodium 131 mmol/L (low)",
  glucose: "Glucose 1.9 mmol/L (critical low)",
};

// --- the screens ---------------------------------------------------------------------------

interface Screen {
  name: string;
  context: BrowserContext;
  page: Page;
  /** Uncaught exceptions in the page. */
  errors: string[];
  /** console.error output (expected while the hub is down: failed connection attempts). */
  console: string[];
}

const sel = (testId: string): string => `[data-testid="${testId}"]`;

async function attr(page: Page, testId: string, name: string): Promise<string | null> {
  return page.locator(sel(testId)).first().getAttribute(name);
}

/** Waits until the element with that test id has `name` = `value`. */
async function waitForAttr(page: Page, testId: string, name: string, value: string, ms = UI_MS): Promise<void> {
  try {
    await page.waitForFunction(
      ([t, n, v]) => document.querySelector(`[data-testid="${t}"]`)?.getAttribute(n!) === v,
      [testId, name, value] as const,
      { timeout: ms, polling: 50 },
    );
  } catch (err) {
    const actual = await attr(page, testId, name).catch(() => "(none)");
    throw new Error(`${testId}[${name}] never became ${JSON.stringify(value)} (is ${JSON.stringify(actual)}): ${String(err)}`);
  }
}

interface Item {
  id: string;
  severity: string;
  unread: string;
  message: string;
  classes: string;
}

/** The alerts panel's items, top to bottom. */
function items(page: Page): Promise<Item[]> {
  return page.$$eval('[data-testid="alert-item"]', (els) =>
    els.map((el) => ({
      id: el.getAttribute("data-alert-id") ?? "",
      severity: el.getAttribute("data-severity") ?? "",
      unread: el.getAttribute("data-unread") ?? "",
      message: el.querySelector('[data-testid="alert-message"]')?.textContent ?? "",
      classes: el.className,
    })),
  );
}

/** Waits until the panel lists exactly these messages (top to bottom), each once. */
async function waitForItems(screen: Screen, messages: string[], ms = UI_MS): Promise<Item[]> {
  let last: Item[] = [];
  try {
    await waitFor(
      async () => {
        last = await items(screen.page);
        return JSON.stringify(last.map((i) => i.message)) === JSON.stringify(messages);
      },
      `${screen.name}: alerts ${JSON.stringify(messages)}`,
      ms,
    );
  } catch (err) {
    throw new Error(`${String(err)}; the panel shows ${JSON.stringify(last.map((i) => i.message))}`);
  }
  return last;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/**
 * Where the triage queue's columns and tables are. `problems` lists every table wider than
 * its column (it would need its scrollbar), column outside the card, overlapping columns or
 * priority chip running into the next cell; `rows` is how many rows the columns take.
 */
function triageLayout(page: Page): Promise<{ rows: number; problems: string[]; columns: unknown[] }> {
  return page.$$eval('[data-testid^="triage-column-"]', (columns) => {
    const problems: string[] = [];
    const boxes = columns.map((column) => {
      const name = column.getAttribute("data-testid");
      const box = column.getBoundingClientRect();
      const card = column.closest(".page")!.getBoundingClientRect();
      const wrap = column.querySelector(".table-scroll")!;
      const table = column.querySelector("table")!.getBoundingClientRect();
      const heading = column.querySelector("h3")!;
      if (wrap.scrollWidth > wrap.clientWidth) problems.push(`${name}: table ${wrap.scrollWidth} px in ${wrap.clientWidth} px`);
      if (table.right > box.right + 0.5) problems.push(`${name}: table ends ${table.right - box.right} px past its column`);
      if (box.left < card.left || box.right > card.right + 0.5) problems.push(`${name}: outside its card`);
      if (heading.scrollWidth > heading.clientWidth) problems.push(`${name}: heading overflows`);
      for (const chip of column.querySelectorAll(".priority")) {
        const cell = chip.closest("td")!.getBoundingClientRect();
        const right = chip.getBoundingClientRect().right;
        if (right > cell.right + 0.5) problems.push(`${name}: priority chip runs ${right - cell.right} px into the next cell`);
      }
      return { name, left: box.left, right: box.right, top: box.top, bottom: box.bottom, width: box.width };
    });
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [p, q] = [boxes[i]!, boxes[j]!];
        const apart = p.right <= q.left + 0.5 || q.right <= p.left + 0.5 || p.bottom <= q.top + 0.5 || q.bottom <= p.top + 0.5;
        if (!apart) problems.push(`${p.name} and ${q.name} overlap`);
      }
    }
    const rows = new Set(boxes.map((b) => Math.round(b.top))).size;
    return { rows, problems, columns: boxes };
  });
}

async function signIn(screen: Screen, token: string): Promise<void> {
  await screen.page.locator(sel("token-input")).fill(token);
  await screen.page.locator(sel("sign-in-button")).click();
  await waitForAttr(screen.page, "connection-state", "data-state", "connected");
}

// --- the run -------------------------------------------------------------------------------

const hub = new ConsoleHub();
let browser: Browser;
const screens: Screen[] = [];
// every run has a hub and journal of its own, so ids as short as a ward's real ones will do
const patient = "P1001";
const occupied = "E2E-01";
const spare = "E2E-02";
/** Longer than a tile is wide: it must wrap or end in an ellipsis, never spill out. */
const longBed = "E2E-ISOLATION-NORTH-WING-BAY-0042-B";
const tokens = { a: "", b: "", c: "", admin: "" };
let controls = 0;
const control = (): string => `E2E${Date.now().toString(36)}${++controls}`;
const alertIds: Record<string, string> = {};

async function screen(name: string): Promise<Screen> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, reducedMotion: "reduce" });
  const page = await context.newPage();
  const s: Screen = { name, context, page, errors: [], console: [] };
  page.on("pageerror", (err) => s.errors.push(`${name}: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") s.console.push(`${name}: ${msg.text()}`);
  });
  screens.push(s);
  return s;
}

async function api(method: string, path: string, token: string): Promise<{ status: number; json: any }> {
  const r = await request(method, `${hub.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: r.status, json: r.text ? JSON.parse(r.text) : null };
}

/** Both nurses' screens have joined the patient's room (audited joins), so alerts reach them. */
async function waitForPatientRoomJoins(): Promise<void> {
  await waitFor(
    async () => {
      const { json } = await api("GET", `/api/audit?room=patient_${patient}&limit=1000`, tokens.admin);
      const joined = new Set(
        (json.entries as Array<{ subject: string; action: string; outcome: string }>)
          .filter((e) => e.action === "join" && e.outcome === "allowed")
          .map((e) => e.subject),
      );
      return joined.has("nurse-a") && joined.has("nurse-b");
    },
    `both nurses in patient_${patient}`,
    UI_MS,
  );
  // the audit entry is written just before the join completes
  await sleep(300);
}

async function sendResult(kind: keyof typeof OBX): Promise<void> {
  const ack = await sendMllp(hub.mllpPort, oru(control(), patient, occupied, OBX[kind]));
  expect(ack, `ACK of the ${kind} result`).toMatch(/\rMSA\|AA\|/);
}

beforeAll(async () => {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM); no browser is downloaded`);
  }
  ensureBuilt();
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  await hub.start();
  [tokens.a, tokens.b, tokens.c, tokens.admin] = await Promise.all([
    hub.token({ sub: "nurse-a", role: "nurse", hospitals: [H] }),
    hub.token({ sub: "nurse-b", role: "nurse", hospitals: [H] }),
    hub.token({ sub: "nurse-c", role: "nurse", hospitals: [H] }),
    hub.token({ sub: "ops-admin", role: "admin" }),
  ]);
  // the ward as the hub knows it before anyone signs in: the patient in a bed, a spare bed
  await hub.post("bed_status_changed", {
    hospital_id: H,
    bed_info: { bed_id: occupied, status: "occupied", unit: "E2E", room: "R1", patient_id: patient },
  });
  await hub.post("bed_status_changed", {
    hospital_id: H,
    bed_info: { bed_id: spare, status: "available", unit: "E2E", room: "R1" },
  });
  await hub.post("bed_status_changed", {
    hospital_id: H,
    bed_info: { bed_id: longBed, status: "blocked", unit: "E2E", room: "R2" },
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
});

afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") {
    console.error(`--- hub log (last 4000 characters) ---\n${hub.log.slice(-4000)}`);
    for (const s of screens) {
      const lines = [...s.errors, ...s.console];
      if (lines.length) console.error(`--- ${s.name}: page errors and console errors ---\n${lines.join("\n")}`);
    }
  }
});

afterAll(async () => {
  await browser?.close();
  await hub.dispose();
});

describe("clinician console in headless Chromium", () => {
  let a: Screen;
  let b: Screen;

  it("1. signs in with a pasted nurse token and shows 'connected'", async () => {
    a = await screen("nurse-a");
    const response = await a.page.goto(`${hub.url}/console`);
    expect(response?.status()).toBe(200);
    await a.page.locator(sel("sign-in")).waitFor();
    expect(await a.page.locator(sel("sign-in-button")).isDisabled()).toBe(true);
    await shot(a.page, "01-sign-in");

    await signIn(a, tokens.a);
    expect((await a.page.locator(sel("connection-state")).textContent())?.trim()).toBe("connected");
    expect(await a.page.locator(sel("user")).textContent()).toContain("nurse-a");
    // the token stays in this tab only
    expect(await a.page.evaluate(() => Object.keys(sessionStorage).some((k) => k.startsWith("clinical-hub-console:")))).toBe(true);
    // the bed board of the token's hospital, with the census loaded over HTTP
    await waitForAttr(a.page, `bed-${H}-${occupied}`, "data-patient", patient);

    b = await screen("nurse-b");
    await b.page.goto(`${hub.url}/console`);
    await signIn(b, tokens.b);
    await waitForAttr(b.page, `bed-${H}-${occupied}`, "data-patient", patient);
  });

  it("2. shows alerts from HL7 ORU^R01 over MLLP, with the unread count on the badge", async () => {
    await waitForPatientRoomJoins();
    expect(await attr(a.page, "alert-badge", "data-count")).toBe("0");

    await sendResult("potassium");
    const [first] = await waitForItems(a, [TEXT.potassium]);
    expect(first!.severity).toBe("critical");
    expect(first!.unread).toBe("true");
    expect(first!.classes).toContain("attention");
    await waitForAttr(a.page, "alert-badge", "data-count", "1");

    await sendResult("sodium");
    const list = await waitForItems(a, [TEXT.sodium, TEXT.potassium]); // newest first
    expect(list.map((i) => i.severity)).toEqual(["warning", "critical"]);
    expect(new Set(list.map((i) => i.id)).size).toBe(2);
    alertIds.sodium = list[0]!.id;
    alertIds.potassium = list[1]!.id;
    await waitForAttr(a.page, "alert-badge", "data-count", "2");
    expect((await a.page.locator(sel("alert-badge")).textContent())?.trim()).toBe("2");
    expect(await a.page.title()).toBe("(2) Clinical hub console");
    // the bell is an inline SVG (no emoji font needed), drawn, and hidden from screen readers
    const bell = a.page.locator(`${sel("alert-badge")} svg`);
    expect(await bell.count()).toBe(1);
    expect(await bell.getAttribute("aria-hidden")).toBe("true");
    const box = await bell.boundingBox();
    expect(box!.width).toBeGreaterThan(8);
    const before = await a.page.locator(sel("alert-badge")).evaluate((el) => getComputedStyle(el, "::before").content);
    expect(["none", "normal"]).toContain(before);
    await shot(a.page, "02-alerts-panel");
  });

  it("3. a second nurse sees the same alerts; acknowledging on one screen clears both", async () => {
    const seen = await waitForItems(b, [TEXT.sodium, TEXT.potassium]);
    expect(seen.map((i) => i.id)).toEqual([alertIds.sodium, alertIds.potassium]);
    await waitForAttr(b.page, "alert-badge", "data-count", "2");

    // watch the item on B from before the click until it is gone
    const goneOnB = b.page.waitForFunction(
      (id) => !document.querySelector(`[data-testid="alert-item"][data-alert-id="${id}"]`),
      alertIds.potassium,
      { timeout: UI_MS, polling: "raf" },
    );
    expect(await b.page.locator(`[data-alert-id="${alertIds.potassium}"]`).count()).toBe(1);
    await a.page.locator(`[data-testid="alert-item"][data-alert-id="${alertIds.potassium}"] ${sel("ack-button")}`).click();
    await goneOnB;
    await waitForItems(b, [TEXT.sodium]);
    await waitForItems(a, [TEXT.sodium]);
    await waitForAttr(a.page, "alert-badge", "data-count", "1");
    await waitForAttr(b.page, "alert-badge", "data-count", "1");
    expect(await a.page.locator(sel("ack-error")).count()).toBe(0);

    // the hub journaled it: alert_acknowledged in the patient's room, by nurse-a
    const { json } = await api("GET", `/api/events?room=patient_${patient}&since=0`, tokens.admin);
    const acks = (json.events as Array<Record<string, unknown>>).filter((e) => e.type === "alert_acknowledged");
    expect(acks).toHaveLength(1);
    expect(acks[0]!.alert_id).toBe(alertIds.potassium);
    expect(JSON.stringify(acks[0])).toContain("nurse-a");
  });

  it("4. a bed changes status and colour when bed_status_changed is posted", async () => {
    const tile = a.page.locator(sel(`bed-${H}-${spare}`));
    const colours = () =>
      tile.evaluate((el) => {
        const style = getComputedStyle(el);
        return { background: style.backgroundColor, border: style.borderTopColor };
      });
    expect(await tile.getAttribute("data-status")).toBe("available");
    const before = await colours();
    await shot(a.page, "03-bed-board-before");

    await hub.post("bed_status_changed", {
      hospital_id: H,
      bed_info: { bed_id: spare, status: "cleaning", unit: "E2E", room: "R1" },
    });
    await waitForAttr(a.page, `bed-${H}-${spare}`, "data-status", "cleaning");
    await waitForAttr(b.page, `bed-${H}-${spare}`, "data-status", "cleaning");
    const after = await colours();
    expect(after.background).not.toBe(before.background);
    expect(after.border).not.toBe(before.border);
    // styles.css: --bed-available-bg #e8f5e9, --bed-cleaning-bg #fff4e0
    expect(before.background).toBe("rgb(232, 245, 233)");
    expect(after.background).toBe("rgb(255, 244, 224)");
    expect(await tile.locator(".bed-status").textContent()).toBe("cleaning");

    // a long bed id stays inside its tile (wrapped, then an ellipsis), whole in the title
    const long = a.page.locator(sel(`bed-${H}-${longBed}`));
    const fit = await long.evaluate((el) => {
      const tile = el.getBoundingClientRect();
      const id = el.querySelector(".bed-id")!;
      const idBox = id.getBoundingClientRect();
      return {
        tileOverflow: el.scrollWidth - el.clientWidth,
        idRight: idBox.right - tile.right,
        // how many lines of the status line below it (one line of text) the id takes
        lines: Math.round(idBox.height / el.querySelector(".bed-status")!.getBoundingClientRect().height),
        title: id.getAttribute("title"),
        text: id.textContent,
      };
    });
    expect(fit.title).toBe(longBed);
    expect(fit.text).toBe(longBed);
    expect(fit.tileOverflow).toBeLessThanOrEqual(0);
    expect(fit.idRight).toBeLessThanOrEqual(0.5);
    expect(fit.lines).toBeLessThanOrEqual(2);
    await shot(a.page, "03-bed-board");
  });

  it("5. renders the triage queue, the patient view and (for an admin) the operator page", async () => {
    const pending = "T2001";
    const triaged = "T2002";
    const assigned = "T2003";
    await hub.post("triage_updated", { triage_id: pending, status: "pending", patient_id: "P2001", hospital_id: H, priority: 2 });
    await hub.post("triage_updated", { triage_id: triaged, status: "triaged", patient_id: "P2002", hospital_id: H, priority: 3 });
    await hub.post("triage_updated", { triage_id: assigned, status: "assigned", patient_id: "P2003", hospital_id: H, priority: 1 });
    await a.page.locator(sel("nav-triage")).click();
    await waitForAttr(a.page, `triage-case-${pending}`, "data-status", "pending");
    await waitForAttr(a.page, `triage-case-${triaged}`, "data-status", "triaged");
    await waitForAttr(a.page, `triage-case-${assigned}`, "data-status", "assigned");
    expect(new URL(a.page.url()).pathname).toBe(`/console/triage/${H}`);

    // the three tables fit their columns and card whatever room the alerts panel leaves
    for (const width of [1280, 1024, 1920]) {
      await a.page.setViewportSize({ width, height: 800 });
      await a.page.waitForFunction(() => window.innerWidth > 0 && document.fonts.status === "loaded");
      await a.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const layout = await triageLayout(a.page);
      expect(layout.problems, `triage at ${width} px: ${JSON.stringify(layout)}`).toEqual([]);
      // side by side when there is room for three tables, stacked (one under another) otherwise
      if (width >= 1280) expect(layout.rows, `triage at ${width} px`).toBe(1);
      await shot(a.page, `04-triage-${width}`);
    }
    await a.page.setViewportSize({ width: 1280, height: 800 });

    // two NEWS2 scores, then the patient view from the bed board's occupant link
    const parameters = {
      respiratory_rate: { value: 24, score: 2 },
      spo2: { value: 93, score: 2 },
      on_oxygen: { value: false, score: 0 },
      systolic_bp: { value: 105, score: 1 },
      pulse: { value: 112, score: 1 },
      consciousness: { value: "A", score: 0 },
      temperature: { value: 38.4, score: 1 },
    };
    await hub.post("risk_updated", {
      patient_id: patient,
      hospital_id: H,
      risk_score: 0.15,
      risk_level: "low-medium",
      explanation: { method: "NEWS2 (RCP 2017)", total: 4, band: "low-medium", parameters: { ...parameters, pulse: { value: 88, score: 0 }, temperature: { value: 37.2, score: 0 } } },
    });
    await hub.post("risk_updated", {
      patient_id: patient,
      hospital_id: H,
      risk_score: 0.35,
      risk_level: "high",
      explanation: { method: "NEWS2 (RCP 2017)", total: 7, band: "high", parameters },
    });
    await a.page.locator(sel("nav-beds")).click();
    await a.page.locator(sel(`bed-patient-${H}-${occupied}`)).click();
    await a.page.locator(sel(`patient-${patient}`)).waitFor({ timeout: UI_MS });
    await waitForAttr(a.page, "risk-chart", "data-points", "2");
    expect(await attr(a.page, "subscore-respiratory_rate", "data-score")).toBe("2");
    // the acknowledged result in the patient's history, the open one not
    await waitFor(
      async () => {
        const history = await a.page.$$eval('[data-testid="patient-alert"]', (els) =>
          els.map((el) => [el.getAttribute("data-alert-id"), el.getAttribute("data-acknowledged")]),
        );
        const state = Object.fromEntries(history);
        return state[alertIds.potassium!] === "true" && state[alertIds.sodium!] === "false";
      },
      "patient view: acknowledged history",
      UI_MS,
    );
    await shot(a.page, "05-patient-view");
    await a.page.locator(sel("nav-beds")).click();
    await a.page.locator(sel(`bed-${H}-${spare}`)).waitFor();

    const admin = await screen("admin");
    await admin.page.goto(`${hub.url}/console`);
    await signIn(admin, tokens.admin);
    await admin.page.locator(sel("nav-operator")).click();
    await admin.page.locator(sel("ops-inputs")).waitFor({ timeout: UI_MS });
    await waitFor(
      async () => Number(await admin.page.locator(sel("ops-clients")).textContent()) >= 3,
      "operator page: 3 connected clients",
      UI_MS,
    );
    expect(await admin.page.locator('[data-testid^="input-"]').count()).toBeGreaterThan(0);
    // an input's last_activity is not always a message (it starts at the input's start)
    const lastActivity = admin.page.locator(sel("ops-last-activity-heading"));
    expect((await lastActivity.textContent())?.trim()).toBe("Last activity");
    expect(await lastActivity.getAttribute("title")).toMatch(/started/);
    await shot(admin.page, "06-operator");
    // a nurse has no operator page
    expect(await a.page.locator(sel("nav-operator")).count()).toBe(0);
    await admin.context.close();
    screens.splice(screens.indexOf(admin), 1);
  });

  it("6. survives a hub restart: reconnecting, then the alert sent meanwhile, once", async () => {
    await waitForItems(a, [TEXT.sodium]);
    const logBefore = hub.log.length;

    await hub.stop("SIGTERM");
    for (const s of [a, b]) await waitForAttr(s.page, "connection-state", "data-state", "reconnecting", UI_MS);
    expect((await a.page.locator(sel("connection-state")).textContent())?.trim()).toBe("reconnecting…");
    await shot(a.page, "07-reconnecting");

    // Screen A stays away until the alert has been sent (the browser is taken offline while the
    // hub restarts), so it can only get it by resuming; B reconnects when it can, so it gets
    // the alert either live or by resuming, whichever its backoff gives.
    await a.context.setOffline(true);
    await hub.start(); // same port, same journal
    await sendResult("glucose");
    await waitForAttr(b.page, "connection-state", "data-state", "connected", RECONNECT_MS);
    await sleep(1000);
    expect(await attr(a.page, "connection-state", "data-state")).toBe("reconnecting");
    expect((await items(a.page)).map((i) => i.message)).toEqual([TEXT.sodium]);

    await a.context.setOffline(false);
    await waitForAttr(a.page, "connection-state", "data-state", "connected", RECONNECT_MS);
    const after = await waitForItems(a, [TEXT.glucose, TEXT.sodium]);
    expect(after[0]!.severity).toBe("critical");
    expect(after[1]!.id).toBe(alertIds.sodium);
    alertIds.glucose = after[0]!.id;
    const resumed = a.page.locator(sel("resume-notice"));
    await resumed.waitFor({ timeout: UI_MS });
    expect(Number(await resumed.getAttribute("data-missed"))).toBeGreaterThanOrEqual(1);
    expect(await resumed.textContent()).toMatch(/^resumed \d+ missed events?$/);
    await waitForAttr(a.page, "alert-badge", "data-count", "2");
    await shot(a.page, "08-resumed");

    const onB = await waitForItems(b, [TEXT.glucose, TEXT.sodium]);
    expect(onB.map((i) => i.id)).toEqual(after.map((i) => i.id));

    // still exactly once each a little later (no late replay duplicates), and the journal has
    // the three alerts the hub was sent
    await sleep(1500);
    for (const s of [a, b]) {
      const ids = (await items(s.page)).map((i) => i.id);
      expect(ids, s.name).toEqual(after.map((i) => i.id));
      expect((await s.page.locator(sel("alert-count")).textContent())?.trim()).toBe("2");
    }
    const { json } = await api("GET", `/api/events?room=patient_${patient}&since=0`, tokens.admin);
    const alerts = (json.events as Array<Record<string, unknown>>).filter((e) => e.type === "patient_alert");
    expect(alerts.map((e) => (e.alert_data as { message: string }).message)).toEqual([
      TEXT.potassium,
      TEXT.sodium,
      TEXT.glucose,
    ]);
    expect(hub.log.slice(logBefore)).not.toMatch(/Traceback/);
  });

  it("7. a screen signing in mid-shift shows the alerts still open, not the acknowledged one", async () => {
    // what the hub calls open: the two results not acknowledged, newest first
    const { status, json } = await api("GET", `/api/alerts?hospital=${H}&hours=24`, tokens.c);
    expect(status).toBe(200);
    expect((json.alerts as Array<{ id: string }>).map((e) => e.id)).toEqual([alertIds.glucose, alertIds.sodium]);

    // a fresh browser context: no session storage, no resume position; joining the patient's
    // room without a position replays nothing, so the list is the only way to see them
    const c = await screen("nurse-c");
    await c.page.goto(`${hub.url}/console`);
    expect(await c.page.evaluate(() => sessionStorage.length)).toBe(0);
    await signIn(c, tokens.c);
    const open = await waitForItems(c, [TEXT.glucose, TEXT.sodium]);
    expect(open.map((i) => i.id)).toEqual([alertIds.glucose, alertIds.sodium]);
    expect(open.map((i) => i.id)).not.toContain(alertIds.potassium);
    expect(open.map((i) => i.severity)).toEqual(["critical", "warning"]);
    expect(open[0]!.classes).toContain("attention");
    await waitForAttr(c.page, "alert-badge", "data-count", "2");
    await waitForAttr(c.page, `bed-${H}-${occupied}`, "data-patient", patient);
    await shot(c.page, "09-signed-in-mid-shift");

    // still once each when the live rooms have been joined
    await sleep(1000);
    expect((await items(c.page)).map((i) => i.id)).toEqual([alertIds.glucose, alertIds.sodium]);

    // a loaded alert is acknowledged like a live one: it leaves every screen
    await c.page.locator(`[data-testid="alert-item"][data-alert-id="${alertIds.sodium}"] ${sel("ack-button")}`).click();
    for (const s of [c, a, b]) await waitForItems(s, [TEXT.glucose]);
    expect(await c.page.locator(sel("ack-error")).count()).toBe(0);
  });

  it("raised no uncaught error in any page", () => {
    console.log(`console errors:\n${screens.flatMap((s) => s.console).join("\n")}`);
    expect(screens.flatMap((s) => s.errors)).toEqual([]);
  });
});
