/** The library API: run dbsweep's jobs inside an application's own process. */
export { CleanupJob, type CleanupStatus, type LastRun } from "./cleanup/job.ts"
export type { CleanupOptions, CleanupSummary } from "./cleanup/run.ts"
export { type CleanupSchedule, cron, every } from "./cleanup/schedule.ts"
export { type CleanupTarget, defaultTarget } from "./cleanup/target.ts"
export {
  type CleanupWorker,
  type CleanupWorkerOptions,
  cleanupScheduleLayer,
  defaultCleanupOptions,
  startCleanupWorker,
} from "./cleanup/worker.ts"
export { PgClient } from "./pg/client.ts"
export { pgSettingsConfig } from "./pg/config.ts"
