// @vitest-environment node
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";

import { requestOrigin } from "@/lib/server/auth";
import { authBaseUrl, authSecret, authSqlitePath, backendUrl, trustedOriginsFromEnv } from "@/lib/server/config";

describe("server config", () => {
  it("defaults BACKEND_URL and rejects a malformed one", () => {
    expect(backendUrl({})).toBe("http://127.0.0.1:8000");
    expect(backendUrl({ BACKEND_URL: "http://backend:8000/" })).toBe("http://backend:8000");
    expect(() => backendUrl({ BACKEND_URL: "backend:8000 x" })).toThrow(/BACKEND_URL is not a valid http\(s\) URL/);
  });

  it("derives the auth base URL and SQLite path", () => {
    expect(authBaseUrl({ PORT: "3100" })).toBe("http://localhost:3100");
    expect(authBaseUrl({ BETTER_AUTH_URL: "https://todo.example/" })).toBe("https://todo.example");
    expect(authSqlitePath({ AUTH_DATA_DIR: "/d" })).toBe("/d/auth.db");
    expect(authSqlitePath({ AUTH_SQLITE_PATH: "/x/a.db", AUTH_DATA_DIR: "/d" })).toBe("/x/a.db");
    expect(trustedOriginsFromEnv({ BETTER_AUTH_TRUSTED_ORIGINS: " http://a , http://b,," })).toEqual(["http://a", "http://b"]);
  });

  it("requires a strong BETTER_AUTH_SECRET in production", () => {
    expect(() => authSecret({ NODE_ENV: "production" })).toThrow(/BETTER_AUTH_SECRET is not set/);
    expect(() => authSecret({ BETTER_AUTH_SECRET: "short" })).toThrow(/shorter than 32/);
    const strong = "x".repeat(32);
    expect(authSecret({ NODE_ENV: "production", BETTER_AUTH_SECRET: strong })).toBe(strong);
  });

  it("generates one development secret, keeps it private, and warns", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "auth-"));
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const first = authSecret({ NODE_ENV: "development", AUTH_DATA_DIR: dir });
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/Never do this in production/));
    expect(authSecret({ NODE_ENV: "development", AUTH_DATA_DIR: dir })).toBe(first);
    const file = path.join(dir, "dev-secret");
    expect(existsSync(file) && readFileSync(file, "utf8")).toBe(first);
    expect(statSync(file).mode & 0o077).toBe(0);
  });

  it("takes the request's origin from Host or the proxy's forwarded headers", () => {
    expect(requestOrigin(new Request("http://0.0.0.0:3000/api/auth/x", { headers: { host: "192.168.49.2:30080" } }))).toBe("http://192.168.49.2:30080");
    expect(requestOrigin(new Request("http://pod:3000/", { headers: { host: "pod:3000", "x-forwarded-host": "todo.local", "x-forwarded-proto": "https" } }))).toBe("https://todo.local");
    expect(requestOrigin(undefined)).toBeNull();
  });
});
