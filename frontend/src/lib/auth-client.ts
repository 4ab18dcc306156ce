import { createAuthClient } from "better-auth/react";

// Same origin as the page, whatever host serves it.
export const authClient = createAuthClient();
