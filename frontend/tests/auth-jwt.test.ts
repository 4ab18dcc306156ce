// @vitest-environment node
// Better Auth for real, on a SQLite file: the tables it migrates, and the JWT the backend gets,
// checked the way the backend checks it (EdDSA key from /api/auth/jwks, iss, aud, sub).
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

const BASE_URL = "http://frontend.test:3000";

let auth: typeof import("@/lib/server/auth");

beforeAll(async () => {
  // Configuration through the environment, as in production.
  process.env.AUTH_DATA_DIR = mkdtempSync(path.join(tmpdir(), "auth-jwt-"));
  process.env.BETTER_AUTH_URL = BASE_URL;
  process.env.BETTER_AUTH_SECRET = "test-secret-that-is-at-least-32-characters";
  delete process.env.AUTH_DATABASE_URL;
  auth = await import("@/lib/server/auth");
  await auth.migrateAuthDatabase();
});

async function signUp(email: string) {
  const { headers, response } = await auth.getAuth().api.signUpEmail({
    body: { name: "Test", email, password: "correct horse battery" },
    returnHeaders: true,
  });
  const cookie = headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  return { userId: response.user.id, cookies: new Headers({ cookie }) };
}

describe("Better Auth with the JWT plugin", () => {
  it("migrates idempotently", async () => {
    await expect(auth.migrateAuthDatabase()).resolves.toBeUndefined();
  });

  it("issues a 15-minute EdDSA JWT that verifies against /api/auth/jwks with iss, aud and sub", async () => {
    const { userId, cookies } = await signUp("jwt@example.com");
    const { token } = await auth.getAuth().api.getToken({ headers: cookies });

    const jwksResponse = await auth.getAuth().handler(new Request(`${BASE_URL}/api/auth/jwks`));
    expect(jwksResponse.status).toBe(200);
    const jwks = (await jwksResponse.json()) as JSONWebKeySet;
    expect(jwks.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA" });

    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
      issuer: BASE_URL,
      audience: BASE_URL,
      algorithms: ["EdDSA"],
    });
    expect(protectedHeader.kid).toBe(jwks.keys[0].kid);
    expect(payload.sub).toBe(userId);
    expect(payload.exp! - payload.iat!).toBe(15 * 60);
  });

  it("refuses a token for a request without a session, and a wrong audience fails verification", async () => {
    await expect(auth.getAuth().api.getToken({ headers: new Headers() })).rejects.toThrow();
    const { cookies } = await signUp("aud@example.com");
    const { token } = await auth.getAuth().api.getToken({ headers: cookies });
    const jwks = (await (await auth.getAuth().handler(new Request(`${BASE_URL}/api/auth/jwks`))).json()) as JSONWebKeySet;
    await expect(jwtVerify(token, createLocalJWKSet(jwks), { audience: "http://other.test" })).rejects.toThrow(/aud/);
  });

  it("accepts sign-in from whatever host serves the app, and refuses a cross-site origin", async () => {
    await signUp("origin@example.com");
    const signIn = (origin: string) =>
      auth.getAuth().handler(
        new Request("http://192.168.49.2:30080/api/auth/sign-in/email", {
          method: "POST",
          headers: { "content-type": "application/json", host: "192.168.49.2:30080", origin, cookie: "seen=1" },
          body: JSON.stringify({ email: "origin@example.com", password: "correct horse battery" }),
        }),
      );
    expect((await signIn("http://192.168.49.2:30080")).status).toBe(200);
    expect((await signIn("http://evil.example")).status).toBe(403);
  });
});
