// Better Auth's own database: PostgreSQL when AUTH_DATABASE_URL is set, else a SQLite file.
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { Pool } from "pg";

import { authSqlitePath } from "./config";

type Env = Record<string, string | undefined>;

export function openAuthDatabase(env: Env = process.env): Database.Database | Pool {
  const url = env.AUTH_DATABASE_URL?.trim();
  if (url) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new Error("AUTH_DATABASE_URL must be a postgres:// or postgresql:// URL (without a +driver suffix).");
    }
    return new Pool({ connectionString: url, max: 5 });
  }
  const file = authSqlitePath(env);
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  return db;
}
