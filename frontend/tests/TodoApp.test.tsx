import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import { TodoApp } from "@/components/TodoApp";
import { ApiError } from "@/lib/api-client";

import { MemoryTodoApi } from "./support/memory-api";

const taskList = () => screen.getByRole("list");

describe("TodoApp", () => {
  it("shows loading, then the empty state", async () => {
    render(<TodoApp api={new MemoryTodoApi()} />);
    expect(screen.getByRole("status")).toHaveTextContent("Loading tasks");
    expect(await screen.findByText(/No tasks yet/)).toBeInTheDocument();
  });

  it("adds a task and clears the form", async () => {
    const api = new MemoryTodoApi();
    render(<TodoApp api={api} />);
    await screen.findByText(/No tasks yet/);
    await userEvent.type(screen.getByLabelText("Title"), "Buy milk");
    await userEvent.type(screen.getByLabelText("Description (optional)"), "2 litres");
    await userEvent.click(screen.getByRole("button", { name: "Add task" }));
    expect(await within(taskList()).findByText("Buy milk")).toBeInTheDocument();
    expect(within(taskList()).getByText("2 litres")).toBeInTheDocument();
    expect(screen.getByLabelText("Title")).toHaveValue("");
    expect(api.tasks).toHaveLength(1);
  });

  it("shows a 422 next to the field and keeps what was typed", async () => {
    const api = new MemoryTodoApi();
    render(<TodoApp api={api} />);
    await screen.findByText(/No tasks yet/);
    await userEvent.type(screen.getByLabelText("Title"), "Too long");
    api.failNext = new ApiError("Please check your input.", "validation", 422, { title: "String should have at most 200 characters" });
    await userEvent.click(screen.getByRole("button", { name: "Add task" }));
    const title = screen.getByLabelText("Title");
    expect(await screen.findByText("String should have at most 200 characters")).toBeInTheDocument();
    expect(title).toHaveAttribute("aria-invalid", "true");
    expect(title).toHaveAccessibleDescription("String should have at most 200 characters");
    expect(title).toHaveValue("Too long");
    // Said once, next to the field: no second banner.
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });

  it("says 'sign in again' on 401 and keeps the draft", async () => {
    const api = new MemoryTodoApi();
    render(<TodoApp api={api} />);
    await screen.findByText(/No tasks yet/);
    await userEvent.type(screen.getByLabelText("Title"), "Call mom");
    api.failNext = new ApiError("Your session has ended. Please sign in again.", "unauthorized", 401);
    await userEvent.click(screen.getByRole("button", { name: "Add task" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Your session has ended");
    expect(within(alert).getByRole("link", { name: "Sign in again" })).toHaveAttribute("href", "/sign-in?next=%2Ftodos");
    expect(screen.getByLabelText("Title")).toHaveValue("Call mom");
    expect(window.sessionStorage.getItem("draft:todo-title")).toBe("Call mom");
  });

  it("completes, edits and deletes a task", async () => {
    const api = new MemoryTodoApi().seed("Walk the dog");
    render(<TodoApp api={api} />);
    await userEvent.click(await screen.findByRole("checkbox", { name: 'Mark "Walk the dog" as completed' }));
    expect(await screen.findByRole("checkbox", { name: 'Mark "Walk the dog" as not completed' })).toBeChecked();
    expect(api.tasks[0].completed).toBe(true);

    await userEvent.click(screen.getByRole("button", { name: 'Edit "Walk the dog"' }));
    const form = screen.getByRole("form", { name: "Edit Walk the dog" });
    const title = within(form).getByLabelText("Title");
    await userEvent.clear(title);
    await userEvent.type(title, "Walk the cat");
    await userEvent.click(within(form).getByRole("button", { name: "Save" }));
    expect(await within(taskList()).findByText("Walk the cat")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: 'Delete "Walk the cat"' }));
    expect(await screen.findByText(/No tasks yet/)).toBeInTheDocument();
    expect(api.tasks).toEqual([]);
  });

  it("filters by status", async () => {
    const api = new MemoryTodoApi().seed("Done thing", "Open thing");
    api.tasks.find((t) => t.title === "Done thing")!.completed = true;
    render(<TodoApp api={api} />);
    await within(await screen.findByRole("list")).findByText("Open thing");
    await userEvent.selectOptions(screen.getByLabelText("Show"), "completed");
    await waitFor(() => expect(within(taskList()).queryByText("Open thing")).not.toBeInTheDocument());
    expect(within(taskList()).getByText("Done thing")).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText("Show"), "pending");
    expect(await within(taskList()).findByText("Open thing")).toBeInTheDocument();
  });

  it("shows a load error with a retry", async () => {
    const api = new MemoryTodoApi().seed("Task A");
    api.failNext = new ApiError("Something went wrong on the server. Please try again.", "server", 500);
    render(<TodoApp api={api} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Something went wrong on the server");
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await within(await screen.findByRole("list")).findByText("Task A")).toBeInTheDocument();
  });
});
