// Better Auth: email and password sign-in, plus the JWT plugin whose keys the backend verifies
// at <BETTER_AUTH_URL>/api/auth/jwks. Created lazily so `next build` never opens the database.
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { nextCookies } from "better-auth/next-js";
import { jwt } from "better-auth/plugins/jwt";

import { openAuthDatabase } from "./auth-database";
import { authBaseUrl, authSecret, trustedOriginsFromEnv } from "./config";

export const JWT_LIFETIME = "15m";

/** The origin the browser used for this request, as seen through any proxy. */
export function requestOrigin(request: Request | undefined): string | null {
  if (!request) return null;
  const host = request.headers.get("x-forwarded-host") ?? request.headers.get("host");
  if (!host) return null;
  const proto = request.headers.get("x-forwarded-proto") ?? new URL(request.url).protocol.replace(":", "");
  return `${proto.split(",")[0].trim()}://${host.split(",")[0].trim()}`;
}

function createAuth() {
  const baseURL = authBaseUrl();
  const extraOrigins = trustedOriginsFromEnv();
  return betterAuth({
    appName: "Todo Chatbot",
    baseURL,
    secret: authSecret(),
    database: openAuthDatabase(),
    emailAndPassword: { enabled: true, autoSignIn: true, minPasswordLength: 8 },
    // Same-origin requests are trusted whatever host the app is reached by (make up,
    // `minikube service`, an Ingress): a cross-site form post carries a different Origin.
    trustedOrigins: (request) => [baseURL, ...extraOrigins, requestOrigin(request)],
    // Better Auth skips the origin check under a test runner; keep it on everywhere.
    advanced: { disableOriginCheck: false },
    telemetry: { enabled: false },
    plugins: [
      // iss and aud are Better Auth's defaults (the base URL), spelled out for the backend's sake.
      jwt({ jwt: { issuer: baseURL, audience: baseURL, expirationTime: JWT_LIFETIME } }),
      nextCookies(),
    ],
  });
}

export type Auth = ReturnType<typeof createAuth>;

const globalForAuth = globalThis as unknown as { todoAuth?: Auth };

export function getAuth(): Auth {
  globalForAuth.todoAuth ??= createAuth();
  return globalForAuth.todoAuth;
}

/** Create or update Better Auth's tables (idempotent). Runs once at server start. */
export async function migrateAuthDatabase(): Promise<void> {
  const { toBeCreated, toBeAdded, runMigrations } = await getMigrations(getAuth().options);
  if (toBeCreated.length || toBeAdded.length) {
    await runMigrations();
    console.info(`[auth] database migrated: ${toBeCreated.map((t) => t.table).join(", ") || "columns added"}`);
  }
}
