/** How the cleanup names its settings and tables in messages. */

/** `"schema"."name"` with embedded quotes doubled: for messages and suggested statements only. */
export const quoted = (...parts: ReadonlyArray<string>) =>
  parts.map((p) => `"${p.replaceAll('"', '""')}"`).join(".")

export const settings = {
  schema: "--schema / CLEANUP_SCHEMA",
  usersTable: "--users-table / CLEANUP_USERS_TABLE",
  pendingTable: "--pending-table / CLEANUP_PENDING_TABLE",
  usersEmailColumn: "--users-email-column / CLEANUP_USERS_EMAIL_COLUMN",
  pendingEmailColumn: "--pending-email-column / CLEANUP_PENDING_EMAIL_COLUMN",
  archiveTable: "--archive-table / CLEANUP_ARCHIVE_TABLE",
  historyTable: "--history-table / CLEANUP_HISTORY_TABLE",
} as const
