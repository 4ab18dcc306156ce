"use client";
import { createApiClient } from "@/lib/api-client";

import { ChatApp } from "./ChatApp";

const api = createApiClient();

/** /chat wired to the real API client. */
export function Chat() {
  return <ChatApp api={api} />;
}
