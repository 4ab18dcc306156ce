import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import { ChatApp, ToolCalls } from "@/components/ChatApp";
import { ApiError } from "@/lib/api-client";

import { MemoryChatApi } from "./support/memory-api";

// jsdom has no layout; the log scrolls its last message into view.
Element.prototype.scrollIntoView ??= () => {};

describe("ChatApp", () => {
  it("sends a message, shows the reply with its tool calls, and lists the new conversation", async () => {
    const api = new MemoryChatApi();
    render(<ChatApp api={api} />);
    expect(await screen.findByText("No conversations yet.")).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Message"), "add buy milk{Enter}");
    const log = screen.getByRole("log");
    expect(await within(log).findByText('Added "buy milk".')).toBeInTheDocument();
    expect(within(log).getByText("add buy milk")).toBeInTheDocument();
    const actions = within(log).getByRole("list", { name: "Actions taken" });
    expect(actions).toHaveTextContent('add_task title="buy milk" → status: created, title: buy milk, task_id: 1');
    expect(actions).not.toHaveTextContent("user_id");
    expect(screen.getByLabelText("Message")).toHaveValue("");
    expect(await screen.findByRole("button", { name: /Conversation 1/ })).toHaveAttribute("aria-current", "true");
    expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("Conversation 1");
  });

  it("keeps the typed message when sending fails", async () => {
    const api = new MemoryChatApi();
    render(<ChatApp api={api} />);
    await userEvent.type(screen.getByLabelText("Message"), "add call mom");
    api.failNext = new ApiError("Something went wrong on the server (AI model failed). Please try again.", "server", 502);
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("AI model failed");
    expect(screen.getByLabelText("Message")).toHaveValue("add call mom");
    expect(within(screen.getByRole("log")).queryByText("add call mom")).not.toBeInTheDocument();
  });

  it("resumes an old conversation and starts a new one", async () => {
    const api = new MemoryChatApi();
    await api.sendChat("add first thing");
    await api.sendChat("add second thing");
    render(<ChatApp api={api} />);
    await userEvent.click(await screen.findByRole("button", { name: /Conversation 1/ }));
    expect(await within(screen.getByRole("log")).findByText('Added "first thing".')).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Message"), "add more{Enter}");
    expect(await screen.findByText('Added "more".')).toBeInTheDocument();
    expect(api.conversations.get(1)).toHaveLength(4);

    await userEvent.click(screen.getByRole("button", { name: "New conversation" }));
    expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("New conversation");
    expect(within(screen.getByRole("log")).queryAllByRole("listitem")).toHaveLength(0);
  });
});

describe("ChatApp with a proposed ops change", () => {
  it("shows the proposal as a card, runs nothing until Approve, then shows the outcome and the answer", async () => {
    const api = new MemoryChatApi();
    render(<ChatApp api={api} />);
    await userEvent.type(screen.getByLabelText("Message"), "scale the backend to 0{Enter}");
    const card = await screen.findByRole("region", { name: "Proposed change 1: scale_deployment" });
    expect(within(card).getByLabelText("Arguments")).toHaveTextContent('"replicas": 0');
    expect(screen.getByRole("list", { name: "Actions taken" })).toHaveTextContent("scale_deployment name=\"backend\" replicas=0 → proposed: awaits your decision below");
    expect(api.decisions).toEqual([]);

    await userEvent.click(within(card).getByRole("button", { name: "Approve" }));
    expect(await within(card).findByText("Approved and done.")).toBeInTheDocument();
    expect(within(card).getByLabelText("Result")).toHaveTextContent("scaled from 1 to 0");
    expect(within(card).queryByRole("button")).not.toBeInTheDocument();
    expect(api.decisions).toEqual([[1, "approve"]]);
    const log = screen.getByRole("log");
    expect(within(log).getByText("Approved action #1: scale_deployment.")).toBeInTheDocument();
    expect(within(log).getByText("Done: the backend was scaled.")).toBeInTheDocument();
  });

  it("shows a pending proposal again after a reload, and a denial", async () => {
    const api = new MemoryChatApi();
    await api.sendChat("scale the backend to 0");
    render(<ChatApp api={api} />);
    await userEvent.click(await screen.findByRole("button", { name: /Conversation 1/ }));
    const card = await screen.findByRole("region", { name: "Proposed change 1: scale_deployment" });
    await userEvent.click(within(card).getByRole("button", { name: "Deny" }));
    expect(await within(card).findByText("Denied: nothing was run.")).toBeInTheDocument();
    expect(api.decisions).toEqual([[1, "deny"]]);
    expect(within(screen.getByRole("log")).getByText("OK, I left it as it is.")).toBeInTheDocument();
  });

  it("shows the action as it now is when it was decided elsewhere", async () => {
    const api = new MemoryChatApi();
    await api.sendChat("scale the backend to 2");
    render(<ChatApp api={api} />);
    await userEvent.click(await screen.findByRole("button", { name: /Conversation 1/ }));
    const card = await screen.findByRole("region", { name: "Proposed change 1: scale_deployment" });
    await api.decideAction(1, "approve"); // another tab
    await userEvent.click(within(card).getByRole("button", { name: "Approve" }));
    expect(await within(card).findByText("Approved and done.")).toBeInTheDocument();
    expect(within(card).getByRole("alert")).toHaveTextContent("at most once");
    expect(api.decisions).toEqual([[1, "approve"]]);
  });
});

describe("ToolCalls", () => {
  it("marks failed calls and summarises list results", () => {
    render(
      <ToolCalls
        calls={[
          { tool: "list_tasks", arguments: { status: "pending" }, result: [{ id: 1 }, { id: 2 }] },
          { tool: "delete_task", arguments: { task_id: 9 }, result: { error: "Task 9 not found" }, is_error: true },
        ]}
      />,
    );
    const items = screen.getAllByRole("listitem");
    expect(items[0]).toHaveTextContent('list_tasks status="pending" → 2 items');
    expect(items[1]).toHaveTextContent("delete_task task_id=9 → failed");
    expect(items[1]).toHaveClass("tool-call-error");
  });
});
