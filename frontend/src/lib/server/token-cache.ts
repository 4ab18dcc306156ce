// Short-lived JWTs for the backend, one per session, re-minted shortly before they expire.

export type MintToken = () => Promise<string>;

interface Entry {
  token: string;
  expiresAtMs: number;
}

/** The `exp` claim of a JWT in milliseconds, or null when it has none or is not a JWT. */
export function jwtExpiryMs(token: string): number | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown };
    return typeof claims.exp === "number" ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

export class TokenCache {
  private entries = new Map<string, Entry>();
  private pending = new Map<string, Promise<string>>();

  constructor(
    private readonly options: { refreshMarginMs?: number; maxEntries?: number; now?: () => number } = {},
  ) {}

  private get now() {
    return (this.options.now ?? Date.now)();
  }

  /** A token for this session that stays valid for at least the refresh margin. */
  async get(sessionId: string, mint: MintToken): Promise<string> {
    const margin = this.options.refreshMarginMs ?? 60_000;
    const cached = this.entries.get(sessionId);
    if (cached && cached.expiresAtMs - margin > this.now) return cached.token;

    // One mint per session at a time, however many requests arrive together.
    const inFlight = this.pending.get(sessionId);
    if (inFlight) return inFlight;
    const minting = mint()
      .then((token) => {
        this.store(sessionId, token);
        return token;
      })
      .finally(() => this.pending.delete(sessionId));
    this.pending.set(sessionId, minting);
    return minting;
  }

  invalidate(sessionId: string): void {
    this.entries.delete(sessionId);
  }

  get size(): number {
    return this.entries.size;
  }

  private store(sessionId: string, token: string) {
    // A token without exp is never reused.
    const expiresAtMs = jwtExpiryMs(token) ?? this.now;
    this.entries.set(sessionId, { token, expiresAtMs });
    if (this.entries.size > (this.options.maxEntries ?? 10_000)) this.prune();
  }

  private prune() {
    const now = this.now;
    for (const [id, entry] of this.entries) if (entry.expiresAtMs <= now) this.entries.delete(id);
    // Still too many live sessions: drop the oldest inserted.
    const max = this.options.maxEntries ?? 10_000;
    for (const id of this.entries.keys()) {
      if (this.entries.size <= max) break;
      this.entries.delete(id);
    }
  }
}
