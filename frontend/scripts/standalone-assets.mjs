#!/usr/bin/env node
// `next build` leaves static assets out of .next/standalone; copy them in so that
// `node .next/standalone/server.js` (the image's command) serves a complete app.
// It also installs scripts/graceful-server.cjs as server.js (Next's own becomes next-server.js):
// exit 0 after a graceful SIGTERM shutdown instead of Next's 143.
import { copyFileSync, cpSync, existsSync, readFileSync, renameSync, utimesSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const standalone = path.join(root, ".next/standalone");
if (!existsSync(standalone)) {
  console.error("No .next/standalone folder: is `output: 'standalone'` still set in next.config.ts?");
  process.exit(1);
}
cpSync(path.join(root, ".next/static"), path.join(standalone, ".next/static"), { recursive: true });
if (existsSync(path.join(root, "public"))) cpSync(path.join(root, "public"), path.join(standalone, "public"), { recursive: true });
const server = path.join(standalone, "server.js");
const wrapper = path.join(root, "scripts/graceful-server.cjs");
// Run again without a new build, server.js is already the wrapper: keep next-server.js as it is.
if (readFileSync(server, "utf8").includes("next/dist/server/lib/start-server")) {
  renameSync(server, path.join(standalone, "next-server.js"));
}
copyFileSync(wrapper, server);
// The e2e runner compares this folder's time with the sources' to know the build is current.
const now = new Date();
utimesSync(path.join(standalone, ".next/static"), now, now);
