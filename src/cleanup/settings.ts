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

/**
 * A table, column or schema name as dbsweep takes it: not blank, no dot and no NUL. Names are
 * quoted by the driver, which reads a dot as a schema separator, so the schema goes in --schema.
 */
export const isBareName = (name: string) =>
  name.trim() !== "" && !name.includes(".") && !name.includes("\u0000")
