// @vitest-environment node
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ApiError, createApiClient } from "@/lib/api-client";

import { closedPort, sendJson, startServer } from "./support/http-server";

const task = { id: 7, user_id: "u1", title: "Buy milk", description: null, completed: false, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z" };

let server: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  server = await startServer((req, res) => {
    const path = req.url.replace(/^\/api\/backend/, "");
    if (path.startsWith("/tasks?")) return sendJson(res, 200, [task]);
    if (req.method === "POST" && path === "/tasks") {
      const body = JSON.parse(req.body);
      if (body.title === "long") {
        return sendJson(res, 422, { detail: [{ loc: ["body", "description"], msg: "String should have at most 1000 characters", type: "string_too_long" }, { loc: ["body"], msg: "Value error, Give at least one field", type: "value_error" }] });
      }
      if (!body.title) return sendJson(res, 422, { detail: [{ loc: ["body", "title"], msg: "String should have at least 1 character", type: "string_too_short" }] });
      return sendJson(res, 201, { ...task, ...body });
    }
    if (req.method === "DELETE" && path === "/tasks/7") return sendJson(res, 204);
    if (req.method === "PATCH" && path === "/tasks/7/complete?completed=true") return sendJson(res, 200, { ...task, completed: true });
    if (path === "/tasks/401") return sendJson(res, 401, { detail: "Not authenticated" });
    if (path === "/tasks/403") return sendJson(res, 403, { detail: "Forbidden" });
    if (path === "/tasks/404") return sendJson(res, 404, { detail: "Task 404 not found" });
    if (path === "/tasks/500") return sendJson(res, 500, { detail: "boom" });
    if (path === "/tasks/502") { res.writeHead(502); return res.end("<html>bad gateway</html>"); }
    if (req.method === "POST" && path === "/actions/3/approve") {
      return sendJson(res, 200, { conversation_id: 1, response: "Scaled.", tool_calls: [], actions: [], action: { id: 3, status: "approved" } });
    }
    if (req.method === "POST" && path === "/actions/3/deny") return sendJson(res, 409, { detail: "Action 3 was already approved: an action is decided, and run, at most once." });
    if (req.method === "POST" && path === "/chat") {
      const body = JSON.parse(req.body);
      return sendJson(res, 200, { conversation_id: body.conversation_id ?? 1, response: `echo ${body.message}`, tool_calls: [] });
    }
    sendJson(res, 404, { detail: "no route" });
  });
});
afterAll(() => server.close());

const api = () => createApiClient(`${server.url}/api/backend`);

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe("api client", () => {
  it("lists tasks with the filter and sort in the query", async () => {
    expect(await api().listTasks("pending", "title")).toEqual([task]);
    expect(server.requests.at(-1)?.url).toBe("/api/backend/tasks?status=pending&sort=title");
  });

  it("sends JSON bodies and returns the created task", async () => {
    const created = await api().createTask({ title: "Walk", description: "the dog" });
    expect(created.title).toBe("Walk");
    const sent = server.requests.at(-1)!;
    expect(sent.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(sent.body)).toEqual({ title: "Walk", description: "the dog" });
  });

  it("handles 204 on delete and PATCH complete", async () => {
    await expect(api().deleteTask(7)).resolves.toBeUndefined();
    expect((await api().setCompleted(7, true)).completed).toBe(true);
  });

  it("maps 422 to field errors", async () => {
    const error = await failure(api().createTask({ title: "" }));
    expect(error.kind).toBe("validation");
    expect(error.fieldErrors).toEqual({ title: "This can't be empty." });
    expect(error.message).toContain("title: This can't be empty.");
  });

  it("says pydantic's limits in plain words and keeps errors without a field", async () => {
    const error = await failure(api().createTask({ title: "long" }));
    expect(error.fieldErrors).toEqual({ description: "Use at most 1000 characters.", _: "Give at least one field" });
  });

  it.each([
    [401, "unauthorized", "sign in again"],
    [403, "forbidden", "permission"],
    [404, "not_found", "Task 404 not found"],
    [500, "server", "try again"],
    [502, "server", "try again"],
  ])("maps %i to %s in plain words", async (status, kind, words) => {
    const error = await failure(api().updateTask(status, { title: "x" }));
    expect(error.status).toBe(status);
    expect(error.kind).toBe(kind);
    expect(error.message.toLowerCase()).toContain(words.toLowerCase());
  });

  it("reports an unreachable server as a network error", async () => {
    const error = await failure(createApiClient(`http://127.0.0.1:${await closedPort()}/api/backend`).listTasks());
    expect(error.kind).toBe("network");
    expect(error.message).toMatch(/can't reach the server/i);
  });

  it("posts a decision on a proposed ops change, and says why one is refused", async () => {
    const reply = await api().decideAction(3, "approve");
    expect(server.requests.at(-1)?.method).toBe("POST");
    expect(server.requests.at(-1)?.url).toBe("/api/backend/actions/3/approve");
    expect(reply.action.status).toBe("approved");
    const error = await failure(api().decideAction(3, "deny"));
    expect(error.status).toBe(409);
    expect(error.message).toContain("at most once");
  });

  it("sends chat messages, with the conversation id only when resuming", async () => {
    expect((await api().sendChat("hi")).response).toBe("echo hi");
    expect(JSON.parse(server.requests.at(-1)!.body)).toEqual({ message: "hi" });
    expect((await api().sendChat("again", 5)).conversation_id).toBe(5);
    expect(JSON.parse(server.requests.at(-1)!.body)).toEqual({ conversation_id: 5, message: "again" });
  });
});
