import { Effect, Metric, MetricBoundaries, MetricLabel, MetricState, Option } from "effect"

/** Every metric dbsweep has, as `/metrics` announces it from the start (before any run). */
interface Family {
  readonly name: string
  readonly help: string
  readonly type: "counter" | "gauge" | "histogram"
  /** Labelled by this tag: no series until a value for it is known (as client libraries do). */
  readonly label?: string
}
const declared: Array<Family> = []
/** The families `/metrics` announces, in declaration order. */
export const metricFamilies: ReadonlyArray<Family> = declared
const declare = (family: Family) => {
  declared.push(family)
  return family
}

/** The label each labelled counter is tagged with, as declared. */
const labelKeys = new Map<Metric.Metric.Counter<number>, string>()

const counter = (name: string, help: string, label?: string) => {
  declare({ name, help, type: "counter", ...(label === undefined ? {} : { label }) })
  const metric = Metric.counter(name, { description: help, incremental: true })
  if (label !== undefined) labelKeys.set(metric, label)
  return metric
}

/**
 * The metrics jobs feed and `/metrics` shows. They live in effect's global registry, so the purge
 * and cleanup steps increment them where they already count, without a service to pass around.
 */
export const purgedRevs = counter("dbsweep_purge_revs_purged_total", "revisions purged from CouchDB")
export const purgeRequests = counter("dbsweep_purge_requests_total", "_purge requests sent")
export const retries = counter(
  "dbsweep_retries_total",
  "requests and batches tried again after a retryable failure",
)
/** Tagged with `kind`: purge_doc, purge_batch, cleanup_batch, or the error tag a run ended in. */
export const failures = counter("dbsweep_failures_total", "failures by kind", "kind")
/**
 * Tagged with `reason` (grace, replication, replication-error): tombstones a purge held back, in
 * each run that held them (a tombstone held for a week by `--grace 7d` is counted by every run of
 * that week). Dry runs are not counted: they hold nothing back from a purge.
 */
export const heldBack = counter(
  "dbsweep_purge_held_back_total",
  "tombstones the safety caps held back, by reason, in each run that held them (dry runs not counted)",
  "reason",
)
export const cleanupDeleted = counter(
  "dbsweep_cleanup_rows_deleted_total",
  "pending rows deleted by the cleanup",
)
const durationHelp = "how long runs took"
declare({ name: "dbsweep_job_duration_seconds", help: durationHelp, type: "histogram", label: "job" })
export const jobDuration = Metric.histogram(
  "dbsweep_job_duration_seconds",
  MetricBoundaries.exponential({ start: 0.05, factor: 2, count: 14 }),
  durationHelp,
)
declare({ name: "dbsweep_jobs_running", help: "runs in progress", type: "gauge", label: "job" })
export const jobsRunning = Metric.gauge("dbsweep_jobs_running", { description: "runs in progress" })

/**
 * Puts every series known at start in the registry at zero: the unlabelled counters, the running
 * gauge and duration histogram of each job the server can run, and (when it can purge) the
 * held-back count of each reason in `heldReasons`. Alerts and dashboards then have series to start
 * from before the first run.
 */
export const registerMetrics = (jobs: ReadonlyArray<string>, heldReasons: ReadonlyArray<string> = []) =>
  Effect.all(
    [
      Metric.value(purgedRevs),
      Metric.value(purgeRequests),
      Metric.value(retries),
      Metric.value(cleanupDeleted),
      ...jobs.flatMap((job) => [
        Metric.value(Metric.tagged(jobsRunning, "job", job)),
        Metric.value(Metric.tagged(jobDuration, "job", job)),
      ]),
      ...heldReasons.map((reason) => Metric.value(Metric.tagged(heldBack, "reason", reason))),
    ],
    { discard: true },
  )

/** The label a counter is tagged with: as declared (`kind` for one declared without). */
const labelOf = (counter: Metric.Metric.Counter<number>) => labelKeys.get(counter) ?? "kind"

const by = (counter: Metric.Metric.Counter<number>, label: string) =>
  Metric.tagged(counter, labelOf(counter), label)

/**
 * Adds `n` to `counter` (tagged with `label` when given: its `kind`, or its `reason` for
 * `heldBack`) at once, outside any effect: for the hot paths that count once per request.
 * Nothing for zero.
 */
export const countNow = (counter: Metric.Metric.Counter<number>, n: number | undefined, label?: string) => {
  if (n !== undefined && n !== 0)
    counter.unsafeUpdate(n, label === undefined ? [] : [MetricLabel.make(labelOf(counter), label)])
}

/** Adds `n` to `counter` (tagged with `label` when given, as `countNow`); nothing for zero. */
export const count = (counter: Metric.Metric.Counter<number>, n: number | undefined, label?: string) =>
  n === undefined || n === 0
    ? Effect.void
    : Metric.incrementBy(label === undefined ? counter : by(counter, label), n)

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")

const labels = (tags: ReadonlyArray<{ key: string; value: string }>, extra: string[] = []) => {
  const all = [...tags.map((t) => `${t.key}="${escapeLabel(t.value)}"`), ...extra]
  return all.length === 0 ? "" : `{${all.join(",")}}`
}

/** Every metric in Prometheus' text format (version 0.0.4). */
export const prometheusText = Effect.gen(function* () {
  const pairs = yield* Metric.snapshot
  const families = new Map<string, { help: string; type: string; lines: string[] }>(
    declared.map((f) => [f.name, { help: f.help, type: f.type, lines: [] }]),
  )
  for (const pair of pairs) {
    const name = pair.metricKey.name
    if (!name.startsWith("dbsweep_")) continue
    const tags = pair.metricKey.tags
    const state: unknown = pair.metricState
    const help = Option.getOrElse(pair.metricKey.description, () => name)
    const family = (type: string) => {
      const f = families.get(name) ?? { help, type, lines: [] }
      families.set(name, f)
      return f.lines
    }
    if (MetricState.isCounterState(state)) family("counter").push(`${name}${labels(tags)} ${state.count}`)
    else if (MetricState.isGaugeState(state)) family("gauge").push(`${name}${labels(tags)} ${state.value}`)
    else if (MetricState.isHistogramState(state)) {
      const lines = family("histogram")
      for (const [le, n] of state.buckets) {
        lines.push(`${name}_bucket${labels(tags, [`le="${Number.isFinite(le) ? le : "+Inf"}"`])} ${n}`)
      }
      if (!state.buckets.some(([le]) => !Number.isFinite(le))) {
        lines.push(`${name}_bucket${labels(tags, ['le="+Inf"'])} ${state.count}`)
      }
      lines.push(`${name}_sum${labels(tags)} ${state.sum}`, `${name}_count${labels(tags)} ${state.count}`)
    }
  }
  return [...families.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, f]) => [`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`, ...f.lines].join("\n"))
    .join("\n")
    .concat("\n")
})

/** Every dbsweep counter's value by name and label: what a job worker sends back to be added here. */
export interface CounterTotal {
  readonly name: string
  /** The value of its label (`kind`, or `reason` for the held-back count), when it has one. */
  readonly label: string | undefined
  readonly count: number
}

/** The counters a job can move, by name: a worker's totals are added to these. */
const jobCounters: ReadonlyMap<string, Metric.Metric.Counter<number>> = new Map([
  ["dbsweep_purge_revs_purged_total", purgedRevs],
  ["dbsweep_purge_requests_total", purgeRequests],
  ["dbsweep_retries_total", retries],
  ["dbsweep_failures_total", failures],
  ["dbsweep_purge_held_back_total", heldBack],
  ["dbsweep_cleanup_rows_deleted_total", cleanupDeleted],
])

/** The current value of every job counter in this thread's registry (a worker's own). */
export const counterTotals = (): ReadonlyArray<CounterTotal> =>
  Metric.unsafeSnapshot()
    .filter((pair) => jobCounters.has(pair.metricKey.name))
    .flatMap((pair) => {
      const state: unknown = pair.metricState
      if (!MetricState.isCounterState(state)) return []
      const counter = jobCounters.get(pair.metricKey.name)
      const label =
        counter === undefined ? undefined : pair.metricKey.tags.find((t) => t.key === labelOf(counter))?.value
      return [{ name: pair.metricKey.name, label, count: Number(state.count) }]
    })

/**
 * Adds what grew in `totals` since `seen` (both a worker's, whose registry starts at zero) to this
 * thread's counters, and remembers the totals in `seen`.
 */
export const addCounterTotals = (totals: ReadonlyArray<CounterTotal>, seen: Map<string, number>) => {
  for (const t of totals) {
    const counter = jobCounters.get(t.name)
    if (counter === undefined) continue
    const key = `${t.name}\u0000${t.label ?? ""}`
    countNow(counter, t.count - (seen.get(key) ?? 0), t.label)
    seen.set(key, t.count)
  }
}
