"use client";
import { createApiClient } from "@/lib/api-client";

import { TodoApp } from "./TodoApp";

const api = createApiClient();

/** /todos wired to the real API client. */
export function Todos() {
  return <TodoApp api={api} />;
}
