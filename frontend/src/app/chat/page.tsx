import type { Metadata } from "next";

import { Chat } from "@/components/ChatPage";
import { NavBar } from "@/components/NavBar";
import { requireSession } from "@/lib/server/session";

export const metadata: Metadata = { title: "Chat · Todo Chatbot" };

export default async function Page() {
  const session = await requireSession("/chat");
  return (
    <>
      <NavBar email={session.user.email} />
      <Chat />
    </>
  );
}
