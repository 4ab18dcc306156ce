// Forwards a browser request under /api/backend/... to the backend's /api/{user_id}/...,
// with the signed-in user's JWT. The browser never learns the backend's address or the token.

export const PROXIED_RESOURCES = new Set(["tasks", "chat", "conversations", "actions"]);

export interface ProxyRequest {
  method: string;
  path: string[];
  search: string;
  body?: string;
  contentType?: string | null;
  userId: string;
}

export interface ProxyDeps {
  backendUrl: string;
  /** A valid JWT; `fresh` asks for a newly minted one (after the backend said 401). */
  token: (fresh: boolean) => Promise<string>;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

function json(status: number, detail: string): Response {
  return Response.json({ detail }, { status });
}

export function backendTarget(base: string, userId: string, path: string[], search: string): string {
  const segments = [userId, ...path].map((segment) => encodeURIComponent(segment));
  return `${base}/api/${segments.join("/")}${search}`;
}

export async function proxyToBackend(request: ProxyRequest, deps: ProxyDeps): Promise<Response> {
  if (!request.path.length || !PROXIED_RESOURCES.has(request.path[0])) {
    return json(404, `Unknown API path /${request.path.join("/")}.`);
  }
  const doFetch = deps.fetch ?? fetch;
  const target = backendTarget(deps.backendUrl, request.userId, request.path, request.search);
  const send = async (fresh: boolean) => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${await deps.token(fresh)}`,
      accept: "application/json",
    };
    if (request.contentType) headers["content-type"] = request.contentType;
    return doFetch(target, {
      method: request.method,
      headers,
      body: request.body,
      signal: AbortSignal.timeout(deps.timeoutMs ?? 120_000),
      cache: "no-store",
    });
  };

  let upstream: Response;
  try {
    upstream = await send(false);
    // A rotated signing key or an expired token: try once more with a new token.
    if (upstream.status === 401) {
      await upstream.body?.cancel();
      upstream = await send(true);
    }
  } catch (error) {
    const timedOut = error instanceof Error && error.name === "TimeoutError";
    return json(timedOut ? 504 : 502, timedOut
      ? "The task service took too long to answer. Please try again."
      : "The task service is unreachable right now. Please try again in a moment.");
  }

  const headers = new Headers();
  const contentType = upstream.headers.get("content-type");
  if (contentType) headers.set("content-type", contentType);
  const requestId = upstream.headers.get("x-request-id");
  if (requestId) headers.set("x-request-id", requestId);
  const body = upstream.status === 204 || upstream.status === 304 ? null : await upstream.arrayBuffer();
  return new Response(body, { status: upstream.status, headers });
}
