// Server-side runtime configuration. Read at request time, never inlined into the browser bundle.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

type Env = Record<string, string | undefined>;

const DEFAULT_BACKEND_URL = "http://127.0.0.1:8000";

/** Where the FastAPI backend listens (BACKEND_URL), without a trailing slash. */
export function backendUrl(env: Env = process.env): string {
  const raw = env.BACKEND_URL?.trim() || DEFAULT_BACKEND_URL;
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {}
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new Error(`BACKEND_URL is not a valid http(s) URL: "${raw}". Set it to the backend's base URL, e.g. ${DEFAULT_BACKEND_URL}.`);
  }
  return url.toString().replace(/\/+$/, "");
}

/** Better Auth's base URL: the browser-facing address, also the JWT's `iss` and `aud`. */
export function authBaseUrl(env: Env = process.env): string {
  return (env.BETTER_AUTH_URL?.trim() || `http://localhost:${env.PORT || 3000}`).replace(/\/+$/, "");
}

/** Folder for local state (SQLite file, dev secret). */
export function dataDir(env: Env = process.env): string {
  return env.AUTH_DATA_DIR?.trim() || path.join(process.cwd(), ".data");
}

export function authSqlitePath(env: Env = process.env): string {
  return env.AUTH_SQLITE_PATH?.trim() || path.join(dataDir(env), "auth.db");
}

/** Extra origins allowed to call the auth endpoints (comma separated). */
export function trustedOriginsFromEnv(env: Env = process.env): string[] {
  return (env.BETTER_AUTH_TRUSTED_ORIGINS ?? "")
    .split(",")
    .map((origin) => origin.trim())
    .filter(Boolean);
}

/**
 * BETTER_AUTH_SECRET signs sessions and encrypts the JWT private keys. Required in production;
 * in development a random one is generated once and kept in the data folder (with a warning).
 */
export function authSecret(env: Env = process.env): string {
  const secret = env.BETTER_AUTH_SECRET?.trim();
  if (secret) {
    if (secret.length < 32) {
      throw new Error("BETTER_AUTH_SECRET is shorter than 32 characters. Generate one with `openssl rand -base64 32`.");
    }
    return secret;
  }
  if (env.NODE_ENV === "production") {
    throw new Error(
      "BETTER_AUTH_SECRET is not set. The frontend refuses to run in production without it: " +
        "set it to a random string of at least 32 characters (e.g. `openssl rand -base64 32`).",
    );
  }
  const file = path.join(dataDir(env), "dev-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(path.dirname(file), { recursive: true });
  const generated = randomBytes(32).toString("base64url");
  writeFileSync(file, generated, { mode: 0o600 });
  console.warn(`[auth] BETTER_AUTH_SECRET is not set; using a generated development secret kept in ${file}. Never do this in production.`);
  return generated;
}
