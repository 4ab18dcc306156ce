// The browser's client for the backend API, through the Next server's /api/backend proxy
// (which adds the user's JWT). Errors become ApiError with a plain-words message.

export interface Task {
  id: number;
  user_id: string;
  title: string;
  description: string | null;
  completed: boolean;
  created_at: string;
  updated_at: string;
}

export type TaskFilter = "all" | "pending" | "completed";
export type TaskSort = "created_at" | "-created_at" | "updated_at" | "-updated_at" | "title" | "-title";

export interface TaskInput {
  title: string;
  description?: string | null;
}

export interface ToolCall {
  tool: string;
  arguments?: Record<string, unknown>;
  result?: unknown;
  is_error?: boolean;
  /** Set when the call is a proposed ops change: the id of its OpsAction. */
  action_id?: number;
}

export type ActionStatus = "pending" | "approved" | "denied" | "expired";

/** What the tool's MCP annotations say about it. */
export interface ActionHints {
  title?: string | null;
  description?: string | null;
  read_only?: boolean;
  destructive?: boolean | null;
  idempotent?: boolean | null;
  open_world?: boolean | null;
}

/** An ops change the assistant proposed: nothing runs until its admin approves it. */
export interface OpsAction {
  id: number;
  conversation_id: number;
  tool: string;
  /** Credentials masked. */
  arguments: Record<string, unknown>;
  /** The text of the tool's dry run of exactly this call (its diff), where the tool has one. */
  preview: string | null;
  hints: ActionHints | null;
  status: ActionStatus;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  result: unknown;
  result_text: string | null;
  result_ok: boolean | null;
}

export type Decision = "approve" | "deny";

export interface ChatReply {
  conversation_id: number;
  response: string;
  tool_calls: ToolCall[];
  /** Changes proposed in this turn, waiting for the admin. */
  actions?: OpsAction[];
}

export interface DecisionReply extends ChatReply {
  /** The decided action, with its real result when approved. */
  action: OpsAction;
}

export interface Conversation {
  id: number;
  created_at: string;
  updated_at: string;
}

export interface ChatMessage {
  id: number;
  role: "user" | "assistant";
  content: string;
  tool_calls: ToolCall[] | null;
  created_at: string;
}

export interface ConversationDetail extends Conversation {
  messages: ChatMessage[];
  actions?: OpsAction[];
}

export type ApiErrorKind = "unauthorized" | "forbidden" | "not_found" | "validation" | "server" | "network" | "other";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly kind: ApiErrorKind,
    readonly status: number,
    /** 422 messages by field name (e.g. `title`); `_` holds the ones not tied to a field. */
    readonly fieldErrors: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

interface ValidationItem {
  loc?: (string | number)[];
  msg?: string;
}

/** Pydantic's messages, said the way a person would. */
function plainWords(message: string): string {
  if (/^String should have at least 1 character/.test(message)) return "This can't be empty.";
  const max = /^String should have at most (\d+) characters?/.exec(message);
  if (max) return `Use at most ${max[1]} characters.`;
  return message;
}

function fieldErrorsFrom(detail: unknown): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!Array.isArray(detail)) {
    if (typeof detail === "string") errors._ = detail;
    return errors;
  }
  for (const item of detail as ValidationItem[]) {
    const loc = (item.loc ?? []).filter((part) => part !== "body" && part !== "query");
    const field = loc.length ? String(loc[loc.length - 1]) : "_";
    const message = plainWords((item.msg ?? "is invalid").replace(/^Value error, /, ""));
    errors[field] ??= message;
  }
  return errors;
}

export async function errorFromResponse(response: Response): Promise<ApiError> {
  let detail: unknown;
  try {
    detail = ((await response.json()) as { detail?: unknown }).detail;
  } catch {
    detail = undefined;
  }
  const status = response.status;
  if (status === 401) return new ApiError("Your session has ended. Please sign in again.", "unauthorized", status);
  if (status === 403) {
    return new ApiError(`You don't have permission to do that.${typeof detail === "string" ? ` ${detail}` : ""}`, "forbidden", status);
  }
  if (status === 404) {
    return new ApiError(typeof detail === "string" ? `${detail}. It may have been deleted.` : "That item no longer exists.", "not_found", status);
  }
  if (status === 422) {
    const fieldErrors = fieldErrorsFrom(detail);
    const summary = Object.entries(fieldErrors).map(([field, msg]) => (field === "_" ? msg : `${field}: ${msg}`));
    return new ApiError(`Please check your input. ${summary.join("; ")}`.trim(), "validation", status, fieldErrors);
  }
  if (status >= 500) {
    const hint = typeof detail === "string" ? ` (${detail})` : "";
    return new ApiError(`Something went wrong on the server${hint}. Please try again.`, "server", status);
  }
  return new ApiError(typeof detail === "string" ? detail : `Request failed (${status}).`, "other", status);
}

export function createApiClient(baseUrl = "/api/backend", fetchImpl: typeof fetch = (...args) => fetch(...args)) {
  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetchImpl(`${baseUrl}${path}`, {
        method,
        headers: body === undefined ? { accept: "application/json" } : { accept: "application/json", "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch {
      throw new ApiError("Can't reach the server. Check your connection and try again.", "network", 0);
    }
    if (!response.ok) throw await errorFromResponse(response);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  return {
    listTasks: (filter: TaskFilter = "all", sort: TaskSort = "-created_at") =>
      request<Task[]>("GET", `/tasks?${new URLSearchParams({ status: filter, sort })}`),
    createTask: (input: TaskInput) => request<Task>("POST", "/tasks", input),
    updateTask: (id: number, changes: Partial<TaskInput> & { completed?: boolean }) =>
      request<Task>("PUT", `/tasks/${id}`, changes),
    setCompleted: (id: number, completed: boolean) =>
      request<Task>("PATCH", `/tasks/${id}/complete?completed=${completed}`),
    deleteTask: (id: number) => request<void>("DELETE", `/tasks/${id}`),
    sendChat: (message: string, conversationId?: number | null) =>
      request<ChatReply>("POST", "/chat", conversationId ? { conversation_id: conversationId, message } : { message }),
    listConversations: () => request<Conversation[]>("GET", "/conversations"),
    getConversation: (id: number) => request<ConversationDetail>("GET", `/conversations/${id}`),
    decideAction: (id: number, decision: Decision) => request<DecisionReply>("POST", `/actions/${id}/${decision}`),
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;
