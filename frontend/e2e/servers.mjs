// Starts the real backend (uvicorn, SQLite, offline chat) and the real frontend (the built
// standalone Next.js server) on free loopback ports, with their logs in the artifacts folder.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

export const FRONTEND_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_DIR = path.join(FRONTEND_DIR, "..");
export const ARTIFACTS_DIR = process.env.E2E_ARTIFACTS_DIR ?? path.join(FRONTEND_DIR, "test-results", "e2e");

export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForHttp(url, child, name, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before answering; see ${name}.log in ${ARTIFACTS_DIR}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${name} did not answer ${url} within ${timeoutMs / 1000}s; see ${name}.log in ${ARTIFACTS_DIR}`);
}

function startProcess(name, command, args, options) {
  const log = createWriteStream(path.join(ARTIFACTS_DIR, `${name}.log`));
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  child.on("error", (error) => log.write(`spawn error: ${error.message}\n`));
  return child;
}

async function stopProcess(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

function newestMtime(entry) {
  const stat = statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(entry).map((name) => newestMtime(path.join(entry, name))));
}

/** Builds the frontend when there is no complete standalone build, or the sources are newer. */
export function ensureBuilt() {
  const marker = path.join(FRONTEND_DIR, ".next/standalone/.next/static");
  const sources = ["src", "next.config.ts", "package-lock.json"].map((p) => path.join(FRONTEND_DIR, p));
  if (existsSync(marker) && statSync(marker).mtimeMs >= Math.max(...sources.map(newestMtime))) return;
  console.log("# no up-to-date build: running `npm run build`");
  const result = spawnSync("npm", ["run", "build"], { cwd: FRONTEND_DIR, stdio: "inherit" });
  if (result.status !== 0) throw new Error("`npm run build` failed");
}

/** Fresh PostgreSQL databases (one per server) on the cluster at adminUrl, dropped by the returned cleanup. */
async function freshDatabases(adminUrl, names) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  const suffix = randomBytes(4).toString("hex");
  const urls = {};
  try {
    for (const name of names) {
      const db = `e2e_${name}_${suffix}`;
      await client.query(`CREATE DATABASE ${db}`);
      const url = new URL(adminUrl);
      url.pathname = `/${db}`;
      urls[name] = url.toString();
    }
  } finally {
    await client.end();
  }
  const drop = async () => {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      for (const name of names) await admin.query(`DROP DATABASE IF EXISTS e2e_${name}_${suffix} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  };
  return { urls, drop };
}

/**
 * A stack that is already running (the chart deployed on the test cluster): E2E_FRONTEND_URL is the
 * frontend as the browser reaches it (its publicUrl), E2E_BACKEND_URL the backend's Service.
 */
export function deployedStack() {
  rmSync(ARTIFACTS_DIR, { recursive: true, force: true });
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const frontendUrl = process.env.E2E_FRONTEND_URL;
  const backendUrl = process.env.E2E_BACKEND_URL;
  if (!frontendUrl || !backendUrl) throw new Error("a deployed stack needs both E2E_FRONTEND_URL and E2E_BACKEND_URL");
  console.log(`# deployed stack: frontend ${frontendUrl}, backend ${backendUrl}`);
  return {
    frontendUrl,
    backendUrl,
    async stop() {},
    logTail: () => "(a deployed stack: its pods' logs are printed by the test that deployed it)",
  };
}

/**
 * E2E_POSTGRES_URL (e.g. the URL scripts/setup-postgres.sh prints) puts Better Auth and the
 * backend on fresh PostgreSQL databases; without it both use SQLite files in a temp folder.
 */
export async function startStack() {
  rmSync(ARTIFACTS_DIR, { recursive: true, force: true });
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  ensureBuilt();
  const uvicorn = process.env.E2E_UVICORN ?? path.join(REPO_DIR, ".venv/bin/uvicorn");
  if (!existsSync(uvicorn)) throw new Error(`uvicorn not found at ${uvicorn}: create the venv (scripts/setup.sh) or set E2E_UVICORN.`);

  const dataDir = mkdtempSync(path.join(tmpdir(), "todo-e2e-"));
  const backendPort = await freePort();
  const frontendPort = await freePort();
  const frontendUrl = `http://127.0.0.1:${frontendPort}`;
  const backendUrl = `http://127.0.0.1:${backendPort}`;

  const postgres = process.env.E2E_POSTGRES_URL ? await freshDatabases(process.env.E2E_POSTGRES_URL, ["auth", "todo"]) : null;
  const backendDb = postgres
    ? { DATABASE_URL: postgres.urls.todo, DB_MIGRATE_ON_START: "true" }
    : { SQLITE_PATH: path.join(dataDir, "todo.db") };
  const authDb = postgres ? { AUTH_DATABASE_URL: postgres.urls.auth } : {};
  console.log(`# databases: ${postgres ? "PostgreSQL" : "SQLite"}`);

  // Only what each server needs; ANTHROPIC_API_KEY is left out so the chat runs offline.
  const baseEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8", TZ: "UTC" };
  let backendLog = "backend";
  const launchBackend = (logName, extraEnv = {}) =>
    startProcess(logName, uvicorn, ["app.main:app", "--host", "127.0.0.1", "--port", String(backendPort)], {
      cwd: path.join(REPO_DIR, "backend-app"),
      env: {
        ...baseEnv,
        ...backendDb,
        BETTER_AUTH_JWKS_URL: `${frontendUrl}/api/auth/jwks`,
        BETTER_AUTH_ISSUER: frontendUrl,
        BETTER_AUTH_AUDIENCE: frontendUrl,
        ...extraEnv,
      },
    });
  let backend = launchBackend(backendLog);
  const frontend = startProcess("frontend", process.execPath, [path.join(FRONTEND_DIR, ".next/standalone/server.js")], {
    cwd: FRONTEND_DIR,
    env: {
      ...baseEnv,
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      PORT: String(frontendPort),
      HOSTNAME: "127.0.0.1",
      BETTER_AUTH_URL: frontendUrl,
      BETTER_AUTH_SECRET: randomBytes(32).toString("base64url"),
      AUTH_DATA_DIR: dataDir,
      BACKEND_URL: backendUrl,
      ...authDb,
    },
  });

  const stack = {
    frontendUrl,
    backendUrl,
    dataDir,
    async stop() {
      await Promise.all([stopProcess(frontend), stopProcess(backend)]);
      if (!process.env.E2E_KEEP_DATA) {
        rmSync(dataDir, { recursive: true, force: true });
        await postgres?.drop();
      }
    },
    /** The backend again on the same port and database, with these settings added (the frontend keeps its URL). */
    async restartBackend(logName, extraEnv) {
      await stopProcess(backend);
      backendLog = logName;
      backend = launchBackend(logName, extraEnv);
      await waitForHttp(`${backendUrl}/health`, backend, logName);
    },
    logTail(name, lines = 40) {
      try {
        const file = name === "backend" ? backendLog : name;
        return readFileSync(path.join(ARTIFACTS_DIR, `${file}.log`), "utf8").split("\n").slice(-lines).join("\n");
      } catch {
        return "";
      }
    },
  };
  try {
    await Promise.all([waitForHttp(`${backendUrl}/health`, backend, "backend"), waitForHttp(`${frontendUrl}/api/health`, frontend, "frontend")]);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}

/**
 * The cluster chat ops act on: tests/agent/ops_cluster_e2e.py starts the test control plane with KWOK nodes
 * (tests/cluster), a `backend` Deployment of one replica and ops-mcp over HTTP, prints where they are, and
 * deletes everything when its standard input closes (stop(), or this process ending).
 */
export async function startOpsCluster(timeoutMs = 300_000) {
  const python = process.env.E2E_PYTHON ?? path.join(REPO_DIR, ".venv/bin/python");
  if (!existsSync(python)) throw new Error(`python not found at ${python}: create the venv (scripts/setup.sh) or set E2E_PYTHON.`);
  const log = createWriteStream(path.join(ARTIFACTS_DIR, "ops-cluster.log"));
  const child = spawn(python, [path.join(REPO_DIR, "tests/agent/ops_cluster_e2e.py")], { cwd: REPO_DIR, stdio: ["pipe", "pipe", "pipe"] });
  child.stderr.pipe(log);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const info = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`the ops cluster did not start within ${timeoutMs / 1000}s; see ops-cluster.log in ${ARTIFACTS_DIR}`)), timeoutMs);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const line = out.split("\n").find((l, i, all) => i < all.length - 1 && l.startsWith("{"));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the ops cluster helper exited with code ${code} before it was ready; see ops-cluster.log in ${ARTIFACTS_DIR}`));
    });
  });
  return {
    ...info,
    /** kubectl against that cluster; throws with its stderr when it fails. */
    kubectl(...args) {
      const result = spawnSync(info.kubectl, args, { env: { ...process.env, KUBECONFIG: info.kubeconfig }, encoding: "utf8" });
      if (result.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${result.stderr}`);
      return result.stdout;
    },
    /** ops-mcp's audit records (one per write call; a dry run is recorded as not_applied). */
    audit() {
      return existsSync(info.audit_log) ? readFileSync(info.audit_log, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line)) : [];
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
