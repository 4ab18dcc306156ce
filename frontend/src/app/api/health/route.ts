// Liveness and readiness probe: the process answers. No database or backend call.
export const dynamic = "force-dynamic";

export function GET() {
  return Response.json({ status: "ok" });
}
