import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { AuthForm, type AuthAction } from "@/components/AuthForm";
import { safeNext } from "@/components/AuthScreen";

describe("AuthForm", () => {
  it("signs up with name, email and password, then calls onSuccess", async () => {
    const calls: unknown[] = [];
    const action: AuthAction = async (mode, credentials) => {
      calls.push([mode, credentials]);
      return null;
    };
    const onSuccess = vi.fn();
    render(<AuthForm mode="sign-up" action={action} onSuccess={onSuccess} />);
    await userEvent.type(screen.getByLabelText("Name"), "Ada");
    await userEvent.type(screen.getByLabelText("Email"), "ada@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "correct horse");
    await userEvent.click(screen.getByRole("button", { name: "Sign up" }));
    expect(calls).toEqual([["sign-up", { name: "Ada", email: "ada@example.com", password: "correct horse" }]]);
    expect(onSuccess).toHaveBeenCalledOnce();
  });

  it("shows the failure and keeps the email", async () => {
    const onSuccess = vi.fn();
    render(<AuthForm mode="sign-in" action={async () => "Wrong email or password."} onSuccess={onSuccess} />);
    expect(screen.queryByLabelText("Name")).not.toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Email"), "ada@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "nope");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Wrong email or password.");
    expect(screen.getByLabelText("Email")).toHaveValue("ada@example.com");
    expect(onSuccess).not.toHaveBeenCalled();
  });

  it("says so when the server cannot be reached", async () => {
    render(<AuthForm mode="sign-in" action={() => Promise.reject(new TypeError("fetch failed"))} onSuccess={() => {}} />);
    await userEvent.type(screen.getByLabelText("Email"), "ada@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "whatever1");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Can't reach the server");
  });
});

describe("safeNext", () => {
  it("follows only same-site paths", () => {
    expect(safeNext("/chat")).toBe("/chat");
    expect(safeNext(null)).toBe("/todos");
    expect(safeNext("https://evil.example")).toBe("/todos");
    expect(safeNext("//evil.example")).toBe("/todos");
    expect(safeNext("/\\evil.example")).toBe("/todos");
  });
});
