import { Logger, LogLevel } from "effect"

export type LogFormat = "pretty" | "json" | "logfmt"

export const logFormats: ReadonlyArray<LogFormat> = ["pretty", "json", "logfmt"]

const levels: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None,
}

export const parseLogLevel = (input: string): LogLevel.LogLevel | undefined =>
  levels[input.trim().toLowerCase()]

/**
 * Logs go to stderr so stdout stays clean for `--json` summaries and `--list` output.
 * Pretty on a terminal, JSON otherwise, unless a format is asked for.
 */
export const loggerLayer = (options: {
  readonly format: LogFormat | undefined
  readonly isTerminal: boolean
}) => {
  const format = options.format ?? (options.isTerminal ? "pretty" : "json")
  const logger =
    format === "pretty"
      ? Logger.prettyLogger({ stderr: true, colors: options.isTerminal ? "auto" : false })
      : Logger.withConsoleError(format === "json" ? Logger.jsonLogger : Logger.logfmtLogger)
  return Logger.replace(Logger.defaultLogger, logger)
}
