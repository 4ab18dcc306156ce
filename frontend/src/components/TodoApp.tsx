"use client";
import { useCallback, useEffect, useState, type FormEvent } from "react";

import { ApiError, type ApiClient, type Task, type TaskFilter } from "@/lib/api-client";
import { useDraft } from "@/lib/use-draft";

import { ErrorNotice } from "./ErrorNotice";

export type TodoApi = Pick<ApiClient, "listTasks" | "createTask" | "updateTask" | "setCompleted" | "deleteTask">;

const FILTERS: { value: TaskFilter; label: string }[] = [
  { value: "all", label: "All" },
  { value: "pending", label: "Pending" },
  { value: "completed", label: "Completed" },
];

const FORM_FIELDS = ["title", "description"];

function fieldErrorsOf(error: unknown): Record<string, string> {
  return error instanceof ApiError && error.kind === "validation" ? error.fieldErrors : {};
}

/** Errors not already shown next to a field. */
function needsNotice(error: unknown): boolean {
  if (error === null) return false;
  const fields = Object.keys(fieldErrorsOf(error));
  return !fields.length || fields.some((field) => !FORM_FIELDS.includes(field));
}

function TaskFields({
  idPrefix,
  title,
  description,
  onTitle,
  onDescription,
  errors,
}: {
  idPrefix: string;
  title: string;
  description: string;
  onTitle: (value: string) => void;
  onDescription: (value: string) => void;
  errors: Record<string, string>;
}) {
  return (
    <>
      <label htmlFor={`${idPrefix}-title`}>Title</label>
      <input
        id={`${idPrefix}-title`}
        value={title}
        onChange={(e) => onTitle(e.target.value)}
        maxLength={200}
        required
        aria-invalid={errors.title ? true : undefined}
        aria-describedby={errors.title ? `${idPrefix}-title-error` : undefined}
      />
      {errors.title && (
        <p id={`${idPrefix}-title-error`} className="field-error">
          {errors.title}
        </p>
      )}
      <label htmlFor={`${idPrefix}-description`}>Description (optional)</label>
      <textarea
        id={`${idPrefix}-description`}
        value={description}
        onChange={(e) => onDescription(e.target.value)}
        maxLength={1000}
        rows={2}
        aria-invalid={errors.description ? true : undefined}
        aria-describedby={errors.description ? `${idPrefix}-description-error` : undefined}
      />
      {errors.description && (
        <p id={`${idPrefix}-description-error`} className="field-error">
          {errors.description}
        </p>
      )}
    </>
  );
}

function TaskItem({ task, api, onChanged, onRemoved }: {
  task: Task;
  api: TodoApi;
  onChanged: (task: Task) => void;
  onRemoved: (id: number) => void;
}) {
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(task.title);
  const [description, setDescription] = useState(task.description ?? "");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const toggle = () => run(async () => onChanged(await api.setCompleted(task.id, !task.completed)));
  const remove = () => run(async () => {
    await api.deleteTask(task.id);
    onRemoved(task.id);
  });
  const save = (event: FormEvent) => {
    event.preventDefault();
    return run(async () => {
      onChanged(await api.updateTask(task.id, { title, description: description || null }));
      setEditing(false);
    });
  };

  return (
    <li className={`task ${task.completed ? "task-done" : ""}`} aria-busy={busy || undefined}>
      {editing ? (
        <form onSubmit={save} className="stack" aria-label={`Edit ${task.title}`}>
          <TaskFields
            idPrefix={`task-${task.id}`}
            title={title}
            description={description}
            onTitle={setTitle}
            onDescription={setDescription}
            errors={fieldErrorsOf(error)}
          />
          <div className="row">
            <button type="submit" disabled={busy}>Save</button>
            <button type="button" className="secondary" onClick={() => setEditing(false)}>Cancel</button>
          </div>
        </form>
      ) : (
        <div className="task-row">
          <input
            type="checkbox"
            id={`done-${task.id}`}
            checked={task.completed}
            onChange={toggle}
            disabled={busy}
            aria-label={`Mark "${task.title}" as ${task.completed ? "not completed" : "completed"}`}
          />
          <div className="task-text">
            <span className="task-title">{task.title}</span>
            {task.description && <span className="muted task-description">{task.description}</span>}
          </div>
          <button type="button" className="secondary" onClick={() => setEditing(true)} aria-label={`Edit "${task.title}"`}>
            Edit
          </button>
          <button type="button" className="danger" onClick={remove} disabled={busy} aria-label={`Delete "${task.title}"`}>
            Delete
          </button>
        </div>
      )}
      {needsNotice(error) && <ErrorNotice error={error} returnTo="/todos" />}
    </li>
  );
}

export function TodoApp({ api }: { api: TodoApi }) {
  const [filter, setFilter] = useState<TaskFilter>("all");
  const [tasks, setTasks] = useState<Task[] | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [title, setTitle] = useDraft("todo-title");
  const [description, setDescription] = useDraft("todo-description");
  const [addError, setAddError] = useState<unknown>(null);
  const [adding, setAdding] = useState(false);

  const load = useCallback(async () => {
    setTasks(null);
    setLoadError(null);
    try {
      setTasks(await api.listTasks(filter));
    } catch (e) {
      setLoadError(e);
    }
  }, [api, filter]);

  useEffect(() => {
    // Fetching on mount and on filter change is this effect's whole purpose.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    void load();
  }, [load]);

  const matches = (task: Task) => filter === "all" || task.completed === (filter === "completed");

  async function add(event: FormEvent) {
    event.preventDefault();
    setAdding(true);
    setAddError(null);
    try {
      const task = await api.createTask({ title, description: description || null });
      setTitle("");
      setDescription("");
      if (matches(task)) setTasks((current) => [task, ...(current ?? [])]);
    } catch (e) {
      setAddError(e);
    } finally {
      setAdding(false);
    }
  }

  const changed = (task: Task) =>
    setTasks((current) => (current ?? []).flatMap((t) => (t.id === task.id ? (matches(task) ? [task] : []) : [t])));
  const removed = (id: number) => setTasks((current) => (current ?? []).filter((t) => t.id !== id));

  return (
    <main className="page">
      <h1>My tasks</h1>
      <form onSubmit={add} className="card stack" aria-label="Add a task">
        <TaskFields
          idPrefix="new"
          title={title}
          description={description}
          onTitle={setTitle}
          onDescription={setDescription}
          errors={fieldErrorsOf(addError)}
        />
        {needsNotice(addError) && <ErrorNotice error={addError} returnTo="/todos" />}
        <button type="submit" disabled={adding}>
          {adding ? "Adding…" : "Add task"}
        </button>
      </form>

      <div className="row toolbar">
        <label htmlFor="filter">Show</label>
        <select id="filter" value={filter} onChange={(e) => setFilter(e.target.value as TaskFilter)}>
          {FILTERS.map((f) => (
            <option key={f.value} value={f.value}>{f.label}</option>
          ))}
        </select>
      </div>

      <section aria-label="Tasks" aria-live="polite">
        {loadError !== null ? (
          <ErrorNotice error={loadError} returnTo="/todos" onRetry={load} />
        ) : tasks === null ? (
          <p role="status" className="muted">Loading tasks…</p>
        ) : tasks.length === 0 ? (
          <p className="empty muted">
            {filter === "all" ? "No tasks yet. Add one above, or ask the chat." : `No ${filter} tasks.`}
          </p>
        ) : (
          <ul className="task-list">
            {tasks.map((task) => (
              <TaskItem key={`${task.id}-${task.updated_at}`} task={task} api={api} onChanged={changed} onRemoved={removed} />
            ))}
          </ul>
        )}
      </section>
    </main>
  );
}
