"use client";
// Text the person is typing, kept in sessionStorage so that an error, a reload or signing in
// again does not lose it.
import { useCallback, useEffect, useState } from "react";

export function useDraft(key: string): [string, (value: string) => void] {
  const storageKey = `draft:${key}`;
  const [value, setValue] = useState("");

  useEffect(() => {
    const saved = window.sessionStorage.getItem(storageKey);
    // Restoring after mount keeps the server and client renders identical.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    if (saved) setValue(saved);
  }, [storageKey]);

  const update = useCallback(
    (next: string) => {
      setValue(next);
      if (next) window.sessionStorage.setItem(storageKey, next);
      else window.sessionStorage.removeItem(storageKey);
    },
    [storageKey],
  );
  return [value, update];
}
