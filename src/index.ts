/** The library API: run dbsweep's jobs inside an application's own process, through the same runner. */
export { type AppSettings, cleanupApp, purgeApp } from "./app.ts"
export { CleanupJob, type CleanupStatus, cleanupStatusOf, type LastRun } from "./cleanup/job.ts"
export { type CleanupOptions, CleanupOptionsSchema, defaultCleanupOptions } from "./cleanup/options.ts"
export type { CleanupSummary } from "./cleanup/run.ts"
export { type CleanupSchedule, cron, every } from "./cleanup/schedule.ts"
export { type CleanupTarget, defaultTarget } from "./cleanup/target.ts"
export type { CouchSettings } from "./couch/connection.ts"
export { type AppError, classify, ExitCode, type Meaning, stopsSchedule } from "./errors.ts"
export type { Job, RunContext } from "./jobs/job.ts"
export { decodeOptions } from "./jobs/options.ts"
export { JobRunner, type JobRunnerShape, type RunHandle, type RunnerOptions } from "./jobs/runner.ts"
export { describeSchedule, type JobSchedule } from "./jobs/schedule.ts"
export type { RunProgress, RunState, RunStatus, ScheduleStatus } from "./jobs/status.ts"
export { PgClient } from "./pg/client.ts"
export { loadPgSettings } from "./pg/config.ts"
export { PurgeJob } from "./purge/job.ts"
export { PurgeOptions } from "./purge/options.ts"
export { isSkipped, type PurgeOutcome, type SkippedPurge } from "./purge/outcome.ts"
export type { PurgeSummary } from "./purge/summary.ts"
export { logProgress, Progress, silentProgress } from "./shared/progress.ts"
export {
  type CleanupWorker,
  type CleanupWorkerOptions,
  cleanupScheduleLayer,
  startCleanupWorker,
} from "./worker.ts"
