import { redirect } from "next/navigation";

import { currentSession } from "@/lib/server/session";

export default async function Home() {
  redirect((await currentSession()) ? "/todos" : "/sign-in");
}
