import type { Metadata } from "next";

import { Todos } from "@/components/TodosPage";
import { NavBar } from "@/components/NavBar";
import { requireSession } from "@/lib/server/session";

export const metadata: Metadata = { title: "Todos · Todo Chatbot" };

export default async function Page() {
  const session = await requireSession("/todos");
  return (
    <>
      <NavBar email={session.user.email} />
      <Todos />
    </>
  );
}
