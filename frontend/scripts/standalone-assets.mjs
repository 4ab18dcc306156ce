#!/usr/bin/env node
// `next build` leaves static assets out of .next/standalone; copy them in so that
// `node .next/standalone/server.js` (the image's command) serves a complete app.
import { cpSync, existsSync, utimesSync } from "node:fs";
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
// The e2e runner compares this folder's time with the sources' to know the build is current.
const now = new Date();
utimesSync(path.join(standalone, ".next/static"), now, now);
