// In-memory stand-ins for the backend API, used by component tests (the real client is
// tested over HTTP in api-client.test.ts, the whole stack in the e2e).
import { ApiError, type ChatMessage, type Decision, type OpsAction, type Task, type TaskFilter, type TaskInput, type ToolCall } from "@/lib/api-client";
import type { ChatApi } from "@/components/ChatApp";
import type { TodoApi } from "@/components/TodoApp";

export class MemoryTodoApi implements TodoApi {
  tasks: Task[] = [];
  private nextId = 1;
  /** The next call fails with this error instead. */
  failNext: ApiError | null = null;

  private check() {
    const error = this.failNext;
    this.failNext = null;
    if (error) throw error;
  }

  private make(input: TaskInput): Task {
    const now = new Date().toISOString();
    return { id: this.nextId++, user_id: "u1", title: input.title, description: input.description ?? null, completed: false, created_at: now, updated_at: now };
  }

  seed(...titles: string[]) {
    for (const title of titles) this.tasks.unshift(this.make({ title }));
    return this;
  }

  listTasks = async (filter: TaskFilter = "all") => {
    this.check();
    return this.tasks.filter((t) => filter === "all" || t.completed === (filter === "completed"));
  };

  createTask = async (input: TaskInput) => {
    this.check();
    if (!input.title.trim()) {
      throw new ApiError("Please check your input.", "validation", 422, { title: "String should have at least 1 character" });
    }
    const task = this.make(input);
    this.tasks.unshift(task);
    return task;
  };

  private find(id: number) {
    const task = this.tasks.find((t) => t.id === id);
    if (!task) throw new ApiError(`Task ${id} not found. It may have been deleted.`, "not_found", 404);
    return task;
  }

  updateTask = async (id: number, changes: Partial<TaskInput> & { completed?: boolean }) => {
    this.check();
    const task = this.find(id);
    Object.assign(task, changes, { updated_at: new Date(Date.now() + 1000).toISOString() });
    return { ...task };
  };

  setCompleted = async (id: number, completed: boolean) => this.updateTask(id, { completed });

  deleteTask = async (id: number) => {
    this.check();
    this.find(id);
    this.tasks = this.tasks.filter((t) => t.id !== id);
  };
}

/** A proposed scale_deployment, as the backend returns it. */
export function proposedAction(overrides: Partial<OpsAction> = {}): OpsAction {
  return {
    id: 1,
    conversation_id: 1,
    tool: "scale_deployment",
    arguments: { name: "backend", replicas: 0, namespace: "todo" },
    preview: null,
    hints: { title: "Scale a workload", read_only: false, destructive: false, idempotent: true, open_world: true },
    status: "pending",
    created_at: "2026-01-01T00:00:00Z",
    expires_at: "2026-01-01T00:15:00Z",
    decided_at: null,
    result: null,
    result_text: null,
    result_ok: null,
    ...overrides,
  };
}

export class MemoryChatApi implements ChatApi {
  conversations = new Map<number, ChatMessage[]>();
  actions = new Map<number, OpsAction>();
  /** Decisions the "backend" received, in order. */
  decisions: [number, Decision][] = [];
  failNext: ApiError | null = null;
  private nextMessage = 1;

  private message(role: ChatMessage["role"], content: string, tool_calls: ChatMessage["tool_calls"] = null): ChatMessage {
    return { id: this.nextMessage++, role, content, tool_calls, created_at: new Date().toISOString() };
  }

  sendChat = async (message: string, conversationId?: number | null) => {
    const error = this.failNext;
    this.failNext = null;
    if (error) throw error;
    const id = conversationId ?? this.conversations.size + 1;
    const log = this.conversations.get(id) ?? [];
    if (message.startsWith("scale ")) {
      // An admin's ops request: the assistant proposes the change; nothing runs.
      const action = proposedAction({ id: this.actions.size + 1, conversation_id: id, arguments: { name: "backend", replicas: Number(message.split(" ").at(-1)) } });
      this.actions.set(action.id, action);
      const calls: ToolCall[] = [{ tool: action.tool, arguments: action.arguments, result: "awaits the admin's decision", is_error: false, action_id: action.id }];
      const text = "I proposed scaling the backend.";
      log.push(this.message("user", message), this.message("assistant", text, calls));
      this.conversations.set(id, log);
      return { conversation_id: id, response: text, tool_calls: calls, actions: [action] };
    }
    const title = message.replace(/^add /, "");
    const tool_calls = [{ tool: "add_task", arguments: { user_id: "u1", title }, result: { task_id: 1, status: "created", title }, is_error: false }];
    const reply = `Added "${title}".`;
    log.push(this.message("user", message), this.message("assistant", reply, tool_calls));
    this.conversations.set(id, log);
    return { conversation_id: id, response: reply, tool_calls };
  };

  listConversations = async () =>
    [...this.conversations.keys()].reverse().map((id) => ({ id, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z" }));

  getConversation = async (id: number) => {
    const messages = this.conversations.get(id);
    if (!messages) throw new ApiError(`Conversation ${id} not found. It may have been deleted.`, "not_found", 404);
    const actions = [...this.actions.values()].filter((a) => a.conversation_id === id);
    return { id, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", messages, actions };
  };

  decideAction = async (id: number, decision: Decision) => {
    const action = this.actions.get(id);
    if (!action) throw new ApiError(`Action ${id} not found. It may have been deleted.`, "not_found", 404);
    if (action.status !== "pending") throw new ApiError(`Action ${id} was already ${action.status}: an action is decided, and run, at most once.`, "other", 409);
    this.decisions.push([id, decision]);
    const approved = decision === "approve";
    const decided: OpsAction = {
      ...action,
      status: approved ? "approved" : "denied",
      decided_at: "2026-01-01T00:01:00Z",
      result: approved ? { before: 1, after: action.arguments.replicas } : null,
      result_text: approved ? `deployment/backend scaled from 1 to ${String(action.arguments.replicas)}` : "Denied: nothing was run.",
      result_ok: approved ? true : null,
    };
    this.actions.set(id, decided);
    const response = approved ? "Done: the backend was scaled." : "OK, I left it as it is.";
    const log = this.conversations.get(action.conversation_id) ?? [];
    log.push(this.message("user", `${approved ? "Approved" : "Denied"} action #${id}: ${action.tool}.`), this.message("assistant", response));
    return { conversation_id: action.conversation_id, response, tool_calls: [], actions: [], action: decided };
  };
}
