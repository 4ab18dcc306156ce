"use client";
import { useCallback, useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";

import { ApiError, type ApiClient, type ChatMessage, type Conversation, type Decision, type OpsAction, type ToolCall } from "@/lib/api-client";
import { useDraft } from "@/lib/use-draft";

import { ActionCard } from "./ActionCard";
import { ErrorNotice } from "./ErrorNotice";

export type ChatApi = Pick<ApiClient, "sendChat" | "listConversations" | "getConversation" | "decideAction">;

type Actions = Record<number, OpsAction>;

function withActions(current: Actions, actions: OpsAction[] | undefined): Actions {
  if (!actions?.length) return current;
  const next = { ...current };
  for (const action of actions) next[action.id] = action;
  return next;
}

function summarize(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value !== "object") return String(value);
  const record = value as Record<string, unknown>;
  if (Array.isArray(value)) return `${value.length} item${value.length === 1 ? "" : "s"}`;
  const parts = ["status", "title", "task_id", "error"].filter((k) => k in record).map((k) => `${k}: ${String(record[k])}`);
  return parts.length ? parts.join(", ") : JSON.stringify(value).slice(0, 80);
}

/** One line per tool call: name, arguments, outcome. */
export function ToolCalls({ calls }: { calls: ToolCall[] }) {
  if (!calls.length) return null;
  return (
    <ul className="tool-calls" aria-label="Actions taken">
      {calls.map((call, index) => {
        const args = Object.entries(call.arguments ?? {})
          .filter(([key]) => key !== "user_id")
          .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
          .join(" ");
        return (
          <li key={index} className={call.is_error ? "tool-call-error" : undefined}>
            <code>{call.tool}</code> {args && <span className="muted">{args}</span>}
            {" → "}
            {call.action_id !== undefined ? "proposed: awaits your decision below" : call.is_error ? "failed" : summarize(call.result) || "ok"}
          </li>
        );
      })}
    </ul>
  );
}

function formatWhen(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

type Shown = Pick<ChatMessage, "role" | "content" | "tool_calls"> & { key: string };

export function ChatApp({ api }: { api: ChatApi }) {
  const [conversations, setConversations] = useState<Conversation[] | null>(null);
  const [listError, setListError] = useState<unknown>(null);
  const [activeId, setActiveId] = useState<number | null>(null);
  const [messages, setMessages] = useState<Shown[]>([]);
  const [actions, setActions] = useState<Actions>({});
  const [loadingConversation, setLoadingConversation] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [draft, setDraft] = useDraft("chat-message");
  const [sending, setSending] = useState(false);
  const logRef = useRef<HTMLOListElement>(null);

  const loadConversations = useCallback(async () => {
    setListError(null);
    try {
      setConversations(await api.listConversations());
    } catch (e) {
      setListError(e);
    }
  }, [api]);

  useEffect(() => {
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void loadConversations();
  }, [loadConversations]);

  useEffect(() => {
    logRef.current?.lastElementChild?.scrollIntoView?.({ block: "end" });
  }, [messages]);

  async function open(id: number) {
    setActiveId(id);
    setError(null);
    setLoadingConversation(true);
    try {
      const detail = await api.getConversation(id);
      setMessages(detail.messages.map((m) => ({ ...m, key: String(m.id) })));
      setActions(withActions({}, detail.actions));
    } catch (e) {
      setMessages([]);
      setActions({});
      setError(e);
    } finally {
      setLoadingConversation(false);
    }
  }

  function startNew() {
    setActiveId(null);
    setMessages([]);
    setActions({});
    setError(null);
  }

  async function send(event?: FormEvent) {
    event?.preventDefault();
    const text = draft.trim();
    if (!text || sending) return;
    setSending(true);
    setError(null);
    const pendingKey = `pending-${Date.now()}`;
    setMessages((current) => [...current, { key: pendingKey, role: "user", content: text, tool_calls: null }]);
    try {
      const reply = await api.sendChat(text, activeId);
      setDraft("");
      setActions((current) => withActions(current, reply.actions));
      setMessages((current) => [
        ...current,
        { key: `reply-${pendingKey}`, role: "assistant", content: reply.response, tool_calls: reply.tool_calls },
      ]);
      if (reply.conversation_id !== activeId) {
        setActiveId(reply.conversation_id);
        void loadConversations();
      }
    } catch (e) {
      // The message was not answered: take it back out of the log; the text stays in the box.
      setMessages((current) => current.filter((m) => m.key !== pendingKey));
      setError(e);
    } finally {
      setSending(false);
    }
  }

  /** Approve or deny a proposed ops change; the card shows the outcome, the log the decision and the answer. */
  async function decide(id: number, decision: Decision) {
    const action = actions[id];
    try {
      const reply = await api.decideAction(id, decision);
      setActions((current) => withActions(current, [reply.action, ...(reply.actions ?? [])]));
      const key = `decision-${id}`;
      setMessages((current) => [
        ...current,
        { key, role: "user", content: `${decision === "approve" ? "Approved" : "Denied"} action #${id}: ${action?.tool ?? "change"}.`, tool_calls: null },
        { key: `reply-${key}`, role: "assistant", content: reply.response, tool_calls: reply.tool_calls },
      ]);
    } catch (e) {
      // Decided elsewhere, expired, or failed after the decision was recorded: show the action as it now is.
      if (e instanceof ApiError && [409, 410, 502].includes(e.status) && activeId !== null) {
        const detail = await api.getConversation(activeId).catch(() => null);
        if (detail) setActions(withActions({}, detail.actions));
      }
      throw e;
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      void send();
    }
  }

  return (
    <main className="page chat-page">
      <aside className="conversations" aria-label="Conversations">
        <button type="button" onClick={startNew}>New conversation</button>
        {listError !== null ? (
          <ErrorNotice error={listError} returnTo="/chat" onRetry={loadConversations} />
        ) : conversations === null ? (
          <p role="status" className="muted">Loading conversations…</p>
        ) : conversations.length === 0 ? (
          <p className="muted">No conversations yet.</p>
        ) : (
          <ul>
            {conversations.map((c) => (
              <li key={c.id}>
                <button
                  type="button"
                  className="link-button"
                  aria-current={c.id === activeId ? "true" : undefined}
                  onClick={() => open(c.id)}
                >
                  Conversation {c.id} <span className="muted">· {formatWhen(c.updated_at)}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </aside>

      <section className="chat" aria-label={activeId ? `Conversation ${activeId}` : "New conversation"}>
        <h1>{activeId ? `Conversation ${activeId}` : "New conversation"}</h1>
        {loadingConversation ? (
          <p role="status" className="muted">Loading messages…</p>
        ) : messages.length === 0 ? (
          <p className="muted">Ask me to add, list, complete, update or delete your tasks, e.g. “add buy milk”.</p>
        ) : null}
        <ol className="messages" role="log" aria-live="polite" ref={logRef}>
          {messages.map((m) => (
            <li key={m.key} className={`message message-${m.role}`}>
              <span className="visually-hidden">{m.role === "user" ? "You said:" : "Assistant:"}</span>
              <p>{m.content}</p>
              {m.tool_calls && <ToolCalls calls={m.tool_calls} />}
              {m.tool_calls
                ?.filter((call) => call.action_id !== undefined && actions[call.action_id])
                .map((call) => <ActionCard key={call.action_id} action={actions[call.action_id!]} onDecide={decide} />)}
            </li>
          ))}
          {sending && (
            <li className="message message-assistant muted" role="status">
              Thinking…
            </li>
          )}
        </ol>
        {error !== null && <ErrorNotice error={error} returnTo="/chat" />}
        <form onSubmit={send} className="chat-form">
          <label htmlFor="chat-input" className="visually-hidden">Message</label>
          <textarea
            id="chat-input"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={onKeyDown}
            rows={2}
            maxLength={4000}
            placeholder="Type a message (Enter sends, Shift+Enter adds a line)"
          />
          <button type="submit" disabled={sending || !draft.trim()}>Send</button>
        </form>
      </section>
    </main>
  );
}
