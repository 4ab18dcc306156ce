import { headers } from "next/headers";
import { redirect } from "next/navigation";

import { getAuth } from "./auth";

export async function currentSession() {
  // Reading the request headers first also marks the page as dynamic (never prerendered).
  const requestHeaders = await headers();
  return getAuth().api.getSession({ headers: requestHeaders });
}

/** The signed-in session, or a redirect to the sign-in page that comes back here. */
export async function requireSession(returnTo: string) {
  const session = await currentSession();
  if (!session) redirect(`/sign-in?next=${encodeURIComponent(returnTo)}`);
  return session;
}
