// Runs once when the Next.js server starts: bring Better Auth's tables up to date.
export async function register() {
  if (process.env.NEXT_RUNTIME === "nodejs" && process.env.AUTH_MIGRATE_ON_START !== "false") {
    const { migrateAuthDatabase } = await import("./lib/server/auth");
    await migrateAuthDatabase();
  }
}
