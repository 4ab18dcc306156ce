"use client";
import { useRouter, useSearchParams } from "next/navigation";

import { AuthForm, type AuthMode } from "./AuthForm";

/** Only same-site paths are followed after signing in. */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/todos";
}

/** The sign-in / sign-up form, going back to `?next=` (or /todos) once signed in. */
export function AuthScreen({ mode }: { mode: AuthMode }) {
  const router = useRouter();
  const next = safeNext(useSearchParams().get("next"));
  return (
    <AuthForm
      mode={mode}
      onSuccess={() => {
        router.replace(next);
        router.refresh();
      }}
    />
  );
}
