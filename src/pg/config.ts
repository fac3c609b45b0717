import { Config, Duration, Option, Redacted } from "effect"
import { ConfigError } from "../shared/errors.ts"

/**
 * Where the PostgreSQL server is: `DATABASE_URL` plus the standard libpq variables
 * (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD`, `PGSSLMODE`, `PGCONNECT_TIMEOUT`),
 * which fill in what the URL leaves out. The URL and the password stay redacted.
 */
export interface PgSettings {
  readonly url: Option.Option<Redacted.Redacted<string>>
  readonly host: Option.Option<string>
  readonly port: Option.Option<number>
  readonly database: Option.Option<string>
  readonly user: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
  readonly sslmode: Option.Option<string>
  readonly connectTimeout: Duration.Duration
  /** Most connections the pool opens. */
  readonly poolSize: number
}

export const pgSettingsConfig: Config.Config<PgSettings> = Config.all({
  url: Config.option(Config.redacted("DATABASE_URL")),
  host: Config.option(Config.string("PGHOST")),
  port: Config.option(Config.port("PGPORT")),
  database: Config.option(Config.string("PGDATABASE")),
  user: Config.option(Config.string("PGUSER")),
  password: Config.option(Config.redacted("PGPASSWORD")),
  sslmode: Config.option(
    Config.literal("disable", "allow", "prefer", "require", "verify-ca", "verify-full")("PGSSLMODE"),
  ),
  connectTimeout: Config.integer("PGCONNECT_TIMEOUT").pipe(
    Config.map((s) => Duration.seconds(s)),
    Config.withDefault(Duration.seconds(10)),
  ),
  poolSize: Config.succeed(4),
})

/** The parts of the connection a message may show: never the password. */
export interface PgEndpoint {
  readonly user: string
  readonly host: string
  readonly port: number
  readonly database: string
  readonly ssl: "disable" | "prefer" | "require" | "verify-full" | undefined
  /** `user@host:port/database`, for messages and logs. */
  readonly display: string
}

const sslOf = (mode: string | undefined): PgEndpoint["ssl"] => {
  switch (mode) {
    case undefined:
      return undefined
    case "disable":
      return "disable"
    case "allow":
    case "prefer":
      return "prefer"
    case "require":
      return "require"
    default:
      return "verify-full"
  }
}

/** Resolves the settings into an endpoint (URL first, then the PG* variables, then libpq's defaults). */
export const endpointOf = (settings: PgSettings): PgEndpoint | ConfigError => {
  let fromUrl: URL | undefined
  if (Option.isSome(settings.url)) {
    const raw = Redacted.value(settings.url.value)
    if (!URL.canParse(raw) || !/^postgres(ql)?:$/.test(new URL(raw).protocol)) {
      return new ConfigError({
        message: "DATABASE_URL is not a PostgreSQL URL: use postgres://user:password@host:5432/database",
      })
    }
    fromUrl = new URL(raw)
  }
  const decoded = (s: string | undefined) => (s === undefined || s === "" ? undefined : decodeURIComponent(s))
  const user = decoded(fromUrl?.username) ?? Option.getOrUndefined(settings.user) ?? "postgres"
  const host = decoded(fromUrl?.hostname) ?? Option.getOrUndefined(settings.host) ?? "localhost"
  const port = Number(fromUrl?.port || undefined) || Option.getOrUndefined(settings.port) || 5432
  const database = decoded(fromUrl?.pathname.slice(1)) ?? Option.getOrUndefined(settings.database) ?? user
  const ssl = sslOf(fromUrl?.searchParams.get("sslmode") ?? Option.getOrUndefined(settings.sslmode))
  return { user, host, port, database, ssl, display: `${user}@${host}:${port}/${database}` }
}
