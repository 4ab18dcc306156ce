// In-memory stand-ins for the backend API, used by component tests (the real client is
// tested over HTTP in api-client.test.ts, the whole stack in the e2e).
import { ApiError, type ChatMessage, type Task, type TaskFilter, type TaskInput } from "@/lib/api-client";
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

export class MemoryChatApi implements ChatApi {
  conversations = new Map<number, ChatMessage[]>();
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
    return { id, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", messages };
  };
}
