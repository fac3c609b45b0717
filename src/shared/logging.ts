import { Effect, FiberRef, HashSet, Logger, LogLevel } from "effect"

export type LogFormat = "pretty" | "json" | "logfmt"

export const logFormats: ReadonlyArray<LogFormat> = ["pretty", "json", "logfmt"]

/** The levels `--log-level` and LOG_LEVEL take: the same set the global help lists. */
const levels: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None,
}

export const logLevelNames = `${Object.keys(levels).slice(0, -1).join(", ")} or none`

export const parseLogLevel = (input: string): LogLevel.LogLevel | undefined => {
  const name = input.trim().toLowerCase()
  // "warn" is what most tools call it; accepted as the same level.
  return levels[name === "warn" ? "warning" : name]
}

/**
 * Logs go to stderr so stdout stays clean for `--json` summaries and `--list` output.
 * Pretty on a terminal, JSON otherwise, unless a format is asked for. The logger replaces the
 * default one for `self` alone (a fiber-local setting, not a layer: every command starts with it,
 * and building a layer is some hundred effect steps more).
 */
export const withLogger =
  (options: {
    readonly format: LogFormat | undefined
    readonly isTerminal: boolean
    /** Colour in pretty logs (a terminal, and NO_COLOR unset). */
    readonly colour: boolean
  }) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const format = options.format ?? (options.isTerminal ? "pretty" : "json")
    const logger =
      format === "pretty"
        ? Logger.prettyLogger({ stderr: true, colors: options.colour ? "auto" : false })
        : Logger.withConsoleError(format === "json" ? Logger.jsonLogger : Logger.logfmtLogger)
    return Effect.locallyWith(self, FiberRef.currentLoggers, (loggers) =>
      HashSet.add(HashSet.remove(loggers, Logger.defaultLogger), logger),
    )
  }
