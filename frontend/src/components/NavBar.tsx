"use client";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useState } from "react";

import { authClient } from "@/lib/auth-client";

export function NavBar({ email }: { email: string }) {
  const pathname = usePathname();
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);

  async function signOut() {
    setError(null);
    const result = await authClient.signOut().catch(() => ({ error: { message: "network" } }));
    if (result.error) {
      setError("Could not sign out. Please try again.");
      return;
    }
    window.sessionStorage.clear();
    router.replace("/sign-in");
    router.refresh();
  }

  const links = [
    { href: "/todos", label: "Todos" },
    { href: "/chat", label: "Chat" },
  ];
  return (
    <header className="navbar">
      <nav aria-label="Main">
        <ul>
          {links.map((link) => (
            <li key={link.href}>
              <Link href={link.href} aria-current={pathname === link.href ? "page" : undefined}>
                {link.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <div className="navbar-user">
        <span className="muted">{email}</span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
        {error && <span role="alert">{error}</span>}
      </div>
    </header>
  );
}
