import { getAuth } from "@/lib/server/auth";
import { proxyToBackend } from "@/lib/server/backend-proxy";
import { backendUrl } from "@/lib/server/config";
import { TokenCache } from "@/lib/server/token-cache";

const tokens = new TokenCache();

type Context = { params: Promise<{ path: string[] }> };

async function handle(request: Request, context: Context): Promise<Response> {
  const auth = getAuth();
  const session = await auth.api.getSession({ headers: request.headers });
  if (!session) {
    return Response.json({ detail: "You are not signed in. Please sign in again." }, { status: 401 });
  }
  const { path } = await context.params;
  const sessionId = session.session.id;
  const mint = async () => (await auth.api.getToken({ headers: request.headers })).token;
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  return proxyToBackend(
    {
      method: request.method,
      path,
      search: new URL(request.url).search,
      body: hasBody ? await request.text() : undefined,
      contentType: request.headers.get("content-type"),
      userId: session.user.id,
    },
    {
      backendUrl: backendUrl(),
      token: (fresh) => {
        if (fresh) tokens.invalidate(sessionId);
        return tokens.get(sessionId, mint);
      },
    },
  );
}

export { handle as GET, handle as POST, handle as PUT, handle as PATCH, handle as DELETE };
