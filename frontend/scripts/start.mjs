#!/usr/bin/env node
// Runs the built standalone server the way the image does, with local defaults:
// PORT 3000 on 127.0.0.1 and Better Auth's files in frontend/.data.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const server = path.join(root, ".next/standalone/server.js");
if (!existsSync(server)) {
  console.error("The frontend is not built: run `npm run build` in frontend/ first.");
  process.exit(1);
}
process.env.PORT ??= "3000";
process.env.HOSTNAME ??= "127.0.0.1";
process.env.AUTH_DATA_DIR ??= path.join(root, ".data");
process.env.NEXT_TELEMETRY_DISABLED ??= "1";
await import(pathToFileURL(server).href);
