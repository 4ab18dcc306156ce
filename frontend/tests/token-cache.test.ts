// @vitest-environment node
import { describe, expect, it } from "vitest";

import { jwtExpiryMs, TokenCache } from "@/lib/server/token-cache";

const jwt = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.s`;

describe("jwtExpiryMs", () => {
  it("reads exp in milliseconds", () => {
    expect(jwtExpiryMs(jwt({ exp: 1000 }))).toBe(1_000_000);
  });
  it("is null for tokens without exp or that are not JWTs", () => {
    expect(jwtExpiryMs(jwt({ sub: "x" }))).toBeNull();
    expect(jwtExpiryMs("opaque")).toBeNull();
    expect(jwtExpiryMs("a.!!!.c")).toBeNull();
  });
});

describe("TokenCache", () => {
  function setup() {
    let now = 0;
    let minted = 0;
    const cache = new TokenCache({ refreshMarginMs: 60_000, now: () => now });
    // Each token lives 15 minutes from the time it was minted.
    const mint = async () => jwt({ exp: (now + 15 * 60_000) / 1000, n: ++minted });
    return { cache, mint, advance: (ms: number) => (now += ms), minted: () => minted };
  }

  it("reuses a token until a minute before it expires, then mints a new one", async () => {
    const { cache, mint, advance, minted } = setup();
    const first = await cache.get("s1", mint);
    advance(13 * 60_000);
    expect(await cache.get("s1", mint)).toBe(first);
    advance(60_001); // now inside the refresh margin
    const second = await cache.get("s1", mint);
    expect(second).not.toBe(first);
    expect(minted()).toBe(2);
  });

  it("keeps sessions apart and mints once for concurrent requests", async () => {
    const { cache, mint, minted } = setup();
    const [a, b] = await Promise.all([cache.get("s1", mint), cache.get("s1", mint)]);
    expect(a).toBe(b);
    expect(await cache.get("s2", mint)).not.toBe(a);
    expect(minted()).toBe(2);
  });

  it("mints again after invalidate, and after a failed mint", async () => {
    const { cache, mint, minted } = setup();
    await cache.get("s1", mint);
    cache.invalidate("s1");
    await cache.get("s1", mint);
    expect(minted()).toBe(2);
    await expect(cache.get("s3", () => Promise.reject(new Error("db down")))).rejects.toThrow("db down");
    await cache.get("s3", mint);
    expect(minted()).toBe(3);
  });

  it("never reuses a token without exp, and bounds its size", async () => {
    let n = 0;
    const cache = new TokenCache({ maxEntries: 2 });
    const opaque = async () => `opaque-${++n}`;
    expect(await cache.get("s", opaque)).not.toBe(await cache.get("s", opaque));
    for (const id of ["a", "b", "c", "d"]) await cache.get(id, opaque);
    expect(cache.size).toBeLessThanOrEqual(2);
  });
});
