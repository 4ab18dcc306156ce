// @vitest-environment node
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { backendTarget, proxyToBackend } from "@/lib/server/backend-proxy";

import { closedPort, sendJson, startServer } from "./support/http-server";

let backend: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  backend = await startServer((req, res) => {
    const auth = req.headers.authorization;
    if (auth === "Bearer stale") return sendJson(res, 401, { detail: "Token expired" });
    if (auth !== "Bearer good") return sendJson(res, 401, { detail: "Not authenticated" });
    if (req.method === "DELETE") return sendJson(res, 204);
    if (req.url.endsWith("/slow")) return setTimeout(() => sendJson(res, 200, {}), 500);
    res.setHeader("x-request-id", "req-1");
    sendJson(res, req.method === "POST" ? 201 : 200, { method: req.method, url: req.url, body: req.body, type: req.headers["content-type"] ?? null });
  });
});
afterAll(() => backend.close());

const request = (overrides: Partial<Parameters<typeof proxyToBackend>[0]> = {}) => ({
  method: "GET",
  path: ["tasks"],
  search: "",
  userId: "user-1",
  ...overrides,
});

describe("backendTarget", () => {
  it("puts the user id first and encodes every segment", () => {
    expect(backendTarget("http://b:8000", "a/b", ["tasks", "1"], "?status=all")).toBe("http://b:8000/api/a%2Fb/tasks/1?status=all");
  });
});

describe("proxyToBackend", () => {
  it("forwards method, query, body and content type with the bearer token", async () => {
    const response = await proxyToBackend(
      request({ method: "POST", path: ["tasks"], search: "?x=1", body: '{"title":"a"}', contentType: "application/json" }),
      { backendUrl: backend.url, token: async () => "good" },
    );
    expect(response.status).toBe(201);
    expect(response.headers.get("x-request-id")).toBe("req-1");
    expect(await response.json()).toEqual({ method: "POST", url: "/api/user-1/tasks?x=1", body: '{"title":"a"}', type: "application/json" });
  });

  it("retries once with a fresh token after a 401", async () => {
    const asked: boolean[] = [];
    const response = await proxyToBackend(request(), {
      backendUrl: backend.url,
      token: async (fresh) => {
        asked.push(fresh);
        return fresh ? "good" : "stale";
      },
    });
    expect(response.status).toBe(200);
    expect(asked).toEqual([false, true]);
  });

  it("passes a second 401 through to the browser", async () => {
    const response = await proxyToBackend(request(), { backendUrl: backend.url, token: async () => "stale" });
    expect(response.status).toBe(401);
  });

  it("returns 204 with no body", async () => {
    const response = await proxyToBackend(request({ method: "DELETE", path: ["tasks", "3"] }), { backendUrl: backend.url, token: async () => "good" });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
  });

  it("forwards a decision on a proposed ops change to the user's own actions path", async () => {
    const response = await proxyToBackend(request({ method: "POST", path: ["actions", "3", "approve"] }), { backendUrl: backend.url, token: async () => "good" });
    expect(response.status).toBe(201);
    expect((await response.json()).url).toBe("/api/user-1/actions/3/approve");
  });

  it("refuses paths outside tasks, chat, conversations and actions without calling the backend", async () => {
    const before = backend.requests.length;
    for (const path of [[], ["admin"], ["..", "other-user", "tasks"]]) {
      const response = await proxyToBackend(request({ path }), { backendUrl: backend.url, token: async () => "good" });
      expect(response.status).toBe(404);
    }
    expect(backend.requests.length).toBe(before);
  });

  it("answers 502 in plain words when the backend is down, 504 when it is too slow", async () => {
    const down = await proxyToBackend(request(), { backendUrl: `http://127.0.0.1:${await closedPort()}`, token: async () => "good" });
    expect(down.status).toBe(502);
    expect((await down.json()).detail).toMatch(/unreachable/);
    const slow = await proxyToBackend(request({ path: ["tasks", "slow"] }), { backendUrl: backend.url, token: async () => "good", timeoutMs: 100 });
    expect(slow.status).toBe(504);
  });
});
