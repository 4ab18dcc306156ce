import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { Suspense } from "react";

import { AuthScreen } from "@/components/AuthScreen";
import { currentSession } from "@/lib/server/session";

export const metadata: Metadata = { title: "Sign up · Todo Chatbot" };

export default async function Page() {
  if (await currentSession()) redirect("/todos");
  return (
    <Suspense>
      <AuthScreen mode="sign-up" />
    </Suspense>
  );
}
