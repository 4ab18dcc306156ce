import Link from "next/link";

import { ApiError } from "@/lib/api-client";

/** A backend or network error in plain words, with the next step when there is one. */
export function ErrorNotice({ error, returnTo, onRetry }: { error: unknown; returnTo?: string; onRetry?: () => void }) {
  const message = error instanceof Error ? error.message : "Something went wrong. Please try again.";
  const kind = error instanceof ApiError ? error.kind : "other";
  return (
    <div role="alert" className="notice notice-error">
      <span>{message}</span>
      {kind === "unauthorized" && (
        <Link href={`/sign-in${returnTo ? `?next=${encodeURIComponent(returnTo)}` : ""}`}>Sign in again</Link>
      )}
      {onRetry && (kind === "server" || kind === "network" || kind === "other") && (
        <button type="button" className="link-button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
