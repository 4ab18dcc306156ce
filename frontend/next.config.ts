import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // The container image runs `node server.js` from .next/standalone.
  output: "standalone",
  poweredByHeader: false,
  // Native driver: loaded by Node at run time, never bundled.
  serverExternalPackages: ["better-sqlite3"],
  outputFileTracingRoot: import.meta.dirname,
};

export default nextConfig;
