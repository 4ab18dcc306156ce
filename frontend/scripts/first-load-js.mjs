#!/usr/bin/env node
// First-load JavaScript per route, from the build's .next/diagnostics/route-bundle-stats.json
// (Next 16 no longer prints sizes). Gzipped like Next 15's "First Load JS" column.
// Usage: node scripts/first-load-js.mjs [--budget-kb 200] [--routes /todos,/chat]
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const budgetKb = Number(option("--budget-kb") ?? 200);
const routes = (option("--routes") ?? "/todos,/chat").split(",");

let stats;
try {
  stats = JSON.parse(readFileSync(path.join(root, ".next/diagnostics/route-bundle-stats.json"), "utf8"));
} catch {
  console.error("No build found: run `npm run build` in frontend/ first.");
  process.exit(2);
}

let over = false;
for (const entry of stats) {
  const files = entry.firstLoadChunkPaths.map((p) => readFileSync(path.join(root, p)));
  const raw = files.reduce((n, f) => n + f.length, 0);
  const gz = files.reduce((n, f) => n + gzipSync(f, { level: 9 }).length, 0);
  const watched = routes.includes(entry.route);
  if (watched && gz / 1000 >= budgetKb) over = true;
  console.log(`${entry.route.padEnd(12)} first-load JS ${(gz / 1000).toFixed(1)} kB gzip (${(raw / 1000).toFixed(1)} kB raw)${watched ? ` budget < ${budgetKb} kB` : ""}`);
}
if (over) {
  console.error(`Over budget: a watched route (${routes.join(", ")}) loads ${budgetKb} kB or more of gzipped JS.`);
  process.exit(1);
}
