// Real `hub serve` processes for the tests: free ports, a temporary journal, tokens minted by
// the hub's own CLI, events posted over its HTTP API. No part of the hub is mocked.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const PYTHON = process.env.HUB_PYTHON || join(REPO, ".venv/bin/python");

const run = promisify(execFile);
const live = new Set<ChildProcess>();
// A crashed test run must not leave hubs behind holding ports.
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = net.createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => ok(port));
    });
  });
}

/**
 * HTTP with node:http rather than fetch: under the happy-dom environment the global fetch is
 * happy-dom's, which logs every refused connection while the hub is starting.
 */
export function request(
  method: string,
  url: string,
  options: { headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((ok, fail) => {
    const req = http.request(url, { method, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => ok({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on("error", fail);
    });
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error(`${method} ${url}: timeout`)));
    req.on("error", fail);
    req.end(options.body);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value other than undefined/false, or fails after `ms`. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export interface TokenClaims {
  sub: string;
  role: string;
  hospitals?: string[];
  patients?: string[];
  /** e.g. "8h", "3s" */
  ttl?: string;
}

export interface Published {
  id: string;
  seq: number;
  duplicate: boolean;
}

export class TestHub {
  readonly state: string;
  readonly secret = "web-client-test-" + randomBytes(20).toString("hex");
  port = 0;
  mllpPort = 0;
  private proc: ChildProcess | null = null;
  private serviceToken: string | null = null;

  constructor() {
    this.state = mkdtempSync(join(tmpdir(), "hub-web-client-"));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get log(): string {
    try {
      return readFileSync(join(this.state, "hub.log"), "utf8");
    } catch {
      return "";
    }
  }

  /** Environment of the hub and of its CLI: same secret, same journal. */
  env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("HUB_")) env[k] = v;
    return {
      ...env,
      HUB_SERVER__PORT: String(this.port),
      HUB_JOURNAL__PATH: join(this.state, "journal.sqlite3"),
      HUB_AUTH__SECRET: this.secret,
      HUB_AUTH__SECRET_FILE: join(this.state, "secret"),
      // expiry is exact: the token tests wait for it in seconds, not the default 30 s skew
      HUB_AUTH__LEEWAY_S: "0",
      HUB_LOGGING__LEVEL: "INFO",
      // the default MLLP listener (2575) would collide with other hubs on this machine
      HUB_PLUGINS__SETTINGS: JSON.stringify({
        hl7_mllp: { listeners: [{ name: "default", port: this.mllpPort }] },
      }),
      PYTHONUNBUFFERED: "1",
    };
  }

  /** Starts `hub serve` (again on the same port and journal after stop()). */
  async start(timeoutMs = 30_000): Promise<this> {
    if (!this.port) this.port = await freePort();
    if (!this.mllpPort) this.mllpPort = await freePort();
    const logFd = openSync(join(this.state, "hub.log"), "a");
    // cwd = the state directory, so the repo's config/hub.toml (and var/) stay out of it
    const proc = spawn(PYTHON, ["-m", "hub", "serve"], {
      cwd: this.state,
      env: this.env(),
      stdio: ["ignore", logFd, logFd],
    });
    closeSync(logFd);
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    this.proc = proc;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`hub exited early:\n${this.log.slice(-3000)}`);
      try {
        const r = await request("GET", `${this.url}/ready`, { timeoutMs: 1000 });
        if (r.status === 200) return this;
      } catch {
        /* not listening yet */
      }
      await sleep(100);
    }
    await this.stop();
    throw new Error(`hub did not become ready:\n${this.log.slice(-3000)}`);
  }

  /** SIGTERM (graceful) or SIGKILL; waits for the process to exit. */
  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async restart(signal: "SIGTERM" | "SIGKILL" = "SIGKILL"): Promise<void> {
    await this.stop(signal);
    await this.start();
  }

  /** Removes the state directory; the hub must be stopped. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.state, { recursive: true, force: true });
  }

  /** A JWT minted by `hub token` with this hub's secret. */
  async token(claims: TokenClaims): Promise<string> {
    const args = ["-m", "hub", "token", "--sub", claims.sub, "--role", claims.role];
    for (const h of claims.hospitals ?? []) args.push("--hospital", h);
    for (const p of claims.patients ?? []) args.push("--patient", p);
    if (claims.ttl) args.push("--ttl", claims.ttl);
    const { stdout } = await run(PYTHON, args, { cwd: this.state, env: this.env() });
    return stdout.trim();
  }

  /** POST /api/events/{type} with a service token; throws unless 202. */
  async post(type: string, body: Record<string, unknown>): Promise<Published> {
    this.serviceToken ??= await this.token({ sub: "web-client-tests", role: "service" });
    const r = await request("POST", `${this.url}/api/events/${type}`, {
      headers: {
        "Content-Type": "application/json",
        Authorization: `Bearer ${this.serviceToken}`,
      },
      body: JSON.stringify(body),
    });
    if (r.status !== 202) throw new Error(`POST ${type}: ${r.status} ${r.text}`);
    return JSON.parse(r.text) as Published;
  }
}

/**
 * A TCP relay between client and hub that the test can cut: while it is down, the client
 * cannot reach the hub but the test still can, so events can be posted "while the client is
 * offline" deterministically, whatever the client's reconnect timing.
 */
export class Relay {
  port = 0;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly target: () => number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    if (!this.port) this.port = await freePort();
    const server = net.createServer((inbound) => {
      const outbound = net.connect(this.target(), "127.0.0.1");
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
    await new Promise<void>((ok, fail) => {
      server.once("error", fail);
      server.listen(this.port, "127.0.0.1", () => ok());
    });
    this.server = server;
  }

  /** Cuts every connection and refuses new ones. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((ok) => server.close(() => ok()));
  }
}

let counter = 0;
/** Identifiers unique per test, valid for the hub's id pattern. */
export function uid(prefix: string): string {
  counter += 1;
  return `${prefix}${process.pid}x${counter}x${randomBytes(3).toString("hex")}`;
}
