"use client";
import { useState } from "react";

import type { Decision, OpsAction } from "@/lib/api-client";

import { ErrorNotice } from "./ErrorNotice";

function yesNo(value: boolean | null | undefined): string {
  return value === true ? "yes" : value === false ? "no" : "not stated";
}

function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString();
}

/** The tool's title and the first line of its description, without saying the title twice. */
function about(title?: string | null, description?: string | null): string {
  if (!description) return title ?? "";
  if (!title || description.toLowerCase().startsWith(title.toLowerCase())) return description;
  return `${title}: ${description}`;
}

function resultText(action: OpsAction): string {
  if (action.result_text) return action.result_text;
  if (action.result === null || action.result === undefined) return "";
  return typeof action.result === "string" ? action.result : JSON.stringify(action.result, null, 2);
}

/** The outcome line once the action is decided (or expired). */
function Outcome({ action }: { action: OpsAction }) {
  if (action.status === "denied") return <p className="action-outcome">Denied: nothing was run.</p>;
  if (action.status === "expired") {
    return <p className="action-outcome">Expired at {formatTime(action.expires_at)} without a decision: nothing was run.</p>;
  }
  if (action.status !== "approved") return null;
  if (action.result_ok === null) return <p className="action-outcome" role="status">Approved: running…</p>;
  const text = resultText(action);
  return (
    <div className={`action-outcome ${action.result_ok ? "action-ok" : "action-failed"}`}>
      <p>{action.result_ok ? "Approved and done." : "Approved, but the change failed."}</p>
      {text && <pre aria-label="Result">{text}</pre>}
    </div>
  );
}

/**
 * An ops change the assistant proposed: the tool, its arguments, the dry run's diff (or what the tool's
 * annotations say), and Approve / Deny. Nothing runs until Approve is clicked; after a click the outcome shows.
 */
export function ActionCard({ action, onDecide }: { action: OpsAction; onDecide: (id: number, decision: Decision) => Promise<void> }) {
  const [busy, setBusy] = useState<Decision | null>(null);
  const [error, setError] = useState<unknown>(null);
  const hints = action.hints ?? {};
  const pending = action.status === "pending";

  async function decide(decision: Decision) {
    setBusy(decision);
    setError(null);
    try {
      await onDecide(action.id, decision);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  }

  return (
    <section className={`action-card action-${action.status}`} aria-label={`Proposed change ${action.id}: ${action.tool}`}>
      <h2>
        Proposed change: <code>{action.tool}</code>
        <span className="action-status">{action.status}</span>
      </h2>
      {(hints.title || hints.description) && <p className="muted">{about(hints.title, hints.description)}</p>}
      <h3>Arguments</h3>
      <pre aria-label="Arguments">{JSON.stringify(action.arguments, null, 2)}</pre>
      {action.preview ? (
        <>
          <h3>Dry run (nothing applied yet)</h3>
          <pre aria-label="Dry run diff">{action.preview}</pre>
        </>
      ) : (
        <>
          <h3>What the tool says about itself</h3>
          <ul aria-label="Tool annotations" className="action-hints">
            <li>changes the cluster: {hints.read_only ? "no" : "yes"}</li>
            <li>destructive: {yesNo(hints.destructive)}</li>
            <li>safe to repeat: {yesNo(hints.idempotent)}</li>
          </ul>
        </>
      )}
      {pending ? (
        <>
          <p className="muted">Nothing has changed yet. Expires at {formatTime(action.expires_at)}.</p>
          <div className="row">
            <button type="button" onClick={() => decide("approve")} disabled={busy !== null}>
              {busy === "approve" ? "Approving…" : "Approve"}
            </button>
            <button type="button" className="danger" onClick={() => decide("deny")} disabled={busy !== null}>
              {busy === "deny" ? "Denying…" : "Deny"}
            </button>
          </div>
        </>
      ) : (
        <Outcome action={action} />
      )}
      {error !== null && <ErrorNotice error={error} returnTo="/chat" />}
    </section>
  );
}
