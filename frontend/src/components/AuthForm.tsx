"use client";
import Link from "next/link";
import { useState, type FormEvent } from "react";

import { authClient } from "@/lib/auth-client";

export type AuthMode = "sign-in" | "sign-up";

export interface Credentials {
  name: string;
  email: string;
  password: string;
}

/** Returns an error message, or null on success. */
export type AuthAction = (mode: AuthMode, credentials: Credentials) => Promise<string | null>;

export const betterAuthAction: AuthAction = async (mode, { name, email, password }) => {
  const result =
    mode === "sign-up"
      ? await authClient.signUp.email({ name, email, password })
      : await authClient.signIn.email({ email, password });
  if (!result.error) return null;
  if (result.error.status === 401) return "Wrong email or password.";
  return result.error.message || "Could not sign you in. Please try again.";
};

export function AuthForm({ mode, action = betterAuthAction, onSuccess }: {
  mode: AuthMode;
  action?: AuthAction;
  onSuccess: () => void;
}) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const signUp = mode === "sign-up";

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const credentials = {
      name: String(form.get("name") ?? "").trim(),
      email: String(form.get("email") ?? "").trim(),
      password: String(form.get("password") ?? ""),
    };
    if (signUp && credentials.password.length < 8) {
      setError("Use a password of at least 8 characters.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const failure = await action(mode, credentials);
      if (failure) setError(failure);
      else onSuccess();
    } catch {
      setError("Can't reach the server. Check your connection and try again.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth-page">
      <h1>{signUp ? "Create your account" : "Sign in"}</h1>
      <form onSubmit={onSubmit} className="card stack" aria-describedby={error ? "auth-error" : undefined}>
        {signUp && (
          <label>
            Name
            <input name="name" autoComplete="name" required maxLength={100} />
          </label>
        )}
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={signUp ? "new-password" : "current-password"}
            required
            minLength={signUp ? 8 : undefined}
          />
        </label>
        {error && (
          <p id="auth-error" role="alert" className="notice notice-error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Please wait…" : signUp ? "Sign up" : "Sign in"}
        </button>
      </form>
      <p>
        {signUp ? (
          <>
            Already have an account? <Link href="/sign-in">Sign in</Link>
          </>
        ) : (
          <>
            New here? <Link href="/sign-up">Create an account</Link>
          </>
        )}
      </p>
    </main>
  );
}
