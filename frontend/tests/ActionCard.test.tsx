import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import { ActionCard } from "@/components/ActionCard";
import { ApiError, type Decision } from "@/lib/api-client";

import { proposedAction } from "./support/memory-api";

const DIFF = "DRY RUN, nothing applied: in todo:\ndeployment/backend patched (1 fields)\n  spec.replicas: 1 -> 2";

function recorder() {
  const calls: [number, Decision][] = [];
  let release: () => void = () => {};
  const onDecide = (id: number, decision: Decision) => {
    calls.push([id, decision]);
    return new Promise<void>((resolve) => {
      release = resolve;
    });
  };
  return { calls, onDecide, release: () => release() };
}

describe("ActionCard", () => {
  it("shows a proposed patch with its arguments and the dry run's diff, and approves it with one click", async () => {
    const action = proposedAction({ id: 7, tool: "patch_resource", arguments: { kind: "deployment", name: "backend", patch: { spec: { replicas: 2 } } }, preview: DIFF });
    const { calls, onDecide, release } = recorder();
    render(<ActionCard action={action} onDecide={onDecide} />);

    const card = screen.getByRole("region", { name: "Proposed change 7: patch_resource" });
    expect(within(card).getByRole("heading", { level: 2 })).toHaveTextContent("Proposed change: patch_resource");
    expect(within(card).getByLabelText("Arguments")).toHaveTextContent('"replicas": 2');
    expect(within(card).getByLabelText("Dry run diff")).toHaveTextContent("spec.replicas: 1 -> 2");
    expect(within(card).getByText(/Nothing has changed yet/)).toBeInTheDocument();
    expect(calls).toEqual([]);

    await userEvent.click(within(card).getByRole("button", { name: "Approve" }));
    expect(calls).toEqual([[7, "approve"]]);
    // While the decision is on its way neither button can be clicked again.
    expect(within(card).getByRole("button", { name: "Approving…" })).toBeDisabled();
    expect(within(card).getByRole("button", { name: "Deny" })).toBeDisabled();
    release();
    expect(await within(card).findByRole("button", { name: "Approve" })).toBeEnabled();
  });

  it("shows what the tool's annotations say when it has no dry run, and denies", async () => {
    const { calls, onDecide, release } = recorder();
    render(<ActionCard action={proposedAction({ id: 3 })} onDecide={onDecide} />);
    expect(screen.getByText("Scale a workload")).toBeInTheDocument();
    const hints = screen.getByRole("list", { name: "Tool annotations" });
    expect(hints).toHaveTextContent("changes the cluster: yes");
    expect(hints).toHaveTextContent("destructive: no");
    expect(hints).toHaveTextContent("safe to repeat: yes");
    expect(screen.queryByLabelText("Dry run diff")).not.toBeInTheDocument();
    expect(screen.getByLabelText("Arguments")).toHaveTextContent('"replicas": 0');
    await userEvent.click(screen.getByRole("button", { name: "Deny" }));
    expect(calls).toEqual([[3, "deny"]]);
    expect(screen.getByRole("button", { name: "Denying…" })).toBeDisabled();
    release();
    expect(await screen.findByRole("button", { name: "Deny" })).toBeEnabled();
  });

  it("shows the outcome instead of the buttons once decided", () => {
    const { onDecide } = recorder();
    const { rerender } = render(
      <ActionCard action={proposedAction({ status: "approved", result_ok: true, result_text: "deployment/backend scaled from 1 to 0" })} onDecide={onDecide} />,
    );
    expect(screen.queryByRole("button")).not.toBeInTheDocument();
    expect(screen.getByText("Approved and done.")).toBeInTheDocument();
    expect(screen.getByLabelText("Result")).toHaveTextContent("scaled from 1 to 0");

    rerender(<ActionCard action={proposedAction({ status: "approved", result_ok: false, result_text: "replicas above the ceiling" })} onDecide={onDecide} />);
    expect(screen.getByText("Approved, but the change failed.")).toBeInTheDocument();

    rerender(<ActionCard action={proposedAction({ status: "denied", result_text: "Denied: nothing was run." })} onDecide={onDecide} />);
    expect(screen.getByText("Denied: nothing was run.")).toBeInTheDocument();
    expect(screen.queryByRole("button")).not.toBeInTheDocument();

    rerender(<ActionCard action={proposedAction({ status: "expired" })} onDecide={onDecide} />);
    expect(screen.getByText(/without a decision: nothing was run/)).toBeInTheDocument();
    expect(screen.queryByRole("button")).not.toBeInTheDocument();
  });

  it("says why a decision was refused", async () => {
    const onDecide = async () => {
      throw new ApiError("Action 1 expired unrun. Ask the assistant to propose it again if it is still needed.", "other", 410);
    };
    render(<ActionCard action={proposedAction()} onDecide={onDecide} />);
    await userEvent.click(screen.getByRole("button", { name: "Approve" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("expired unrun");
    expect(screen.getByRole("button", { name: "Approve" })).toBeEnabled();
  });
});
