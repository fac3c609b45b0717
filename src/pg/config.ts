import { Config, Duration, Effect, ConfigError as EffectConfigError, Either, Option, Redacted } from "effect"
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

export const sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const

/**
 * One variable, parsed by `parse` into a message that names it and the form expected (effect's
 * own messages name neither). Empty counts as unset, as in libpq.
 */
const variable = <A>(name: string, parse: (raw: string) => Either.Either<A, string>) =>
  Config.option(Config.string(name)).pipe(
    Config.mapOrFail((raw) =>
      Option.isNone(raw) || raw.value.trim() === ""
        ? Either.right(Option.none<A>())
        : Either.map(parse(raw.value.trim()), Option.some).pipe(
            Either.mapLeft((expected) =>
              EffectConfigError.InvalidData([], `${name}="${raw.value}" is not valid: ${expected}`),
            ),
          ),
    ),
  )

const text = (name: string) => variable(name, Either.right)

const wholeNumber = (raw: string, min: number, max: number) => {
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN
  return n >= min && n <= max ? Either.right(n) : Either.left(`give a whole number from ${min} to ${max}`)
}

export const pgSettingsConfig: Config.Config<PgSettings> = Config.all({
  url: Config.option(Config.redacted("DATABASE_URL")).pipe(
    Config.map(Option.filter((u) => Redacted.value(u).trim() !== "")),
  ),
  host: text("PGHOST"),
  port: variable("PGPORT", (raw) => wholeNumber(raw, 1, 65535)),
  database: text("PGDATABASE"),
  user: text("PGUSER"),
  password: Config.option(Config.redacted("PGPASSWORD")),
  sslmode: variable("PGSSLMODE", (raw) =>
    sslModes.some((m) => m === raw) ? Either.right(raw) : Either.left(`use one of ${sslModes.join(", ")}`),
  ),
  // libpq reads 0 as "wait forever": refused, so a server that never answers cannot hang a run.
  connectTimeout: variable("PGCONNECT_TIMEOUT", (raw) => wholeNumber(raw, 1, 3600)).pipe(
    Config.map((s) => Duration.seconds(Option.getOrElse(s, () => 10))),
  ),
  poolSize: Config.succeed(4),
})

/** The messages of a ConfigError, which holds one per bad variable when several are. */
const messagesOf = (e: EffectConfigError.ConfigError): ReadonlyArray<string> =>
  e._op === "And" || e._op === "Or" ? [...messagesOf(e.left), ...messagesOf(e.right)] : [e.message]

/** The settings, with bad variables reported in one line that names each (exit 2). */
export const loadPgSettings = Effect.mapError(
  pgSettingsConfig,
  (e) =>
    new ConfigError({
      message: messagesOf(e)
        .map((m) => m.split("\n")[0])
        .join("; "),
    }),
)

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

/** Everything needed to open a connection: the endpoint, and what must never be shown. */
export interface PgConnection {
  readonly endpoint: PgEndpoint
  readonly password: Option.Option<Redacted.Redacted<string>>
  /** Other URL parameters (`options`, `application_name`, …): connection parameters, as in libpq. */
  readonly parameters: Readonly<Record<string, string>>
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

// Never echoes the URL: it may hold the password, and a broken one may hold it anywhere.
const badUrl = (why: string) =>
  new ConfigError({
    message: `DATABASE_URL ${why}: use postgres://user:password@host:5432/database, with @ : / ? # % and spaces in the user or password percent-encoded (% as %25, # as %23, @ as %40)`,
  })

const decoded = (s: string): Either.Either<string | undefined, ConfigError> =>
  s === ""
    ? Either.right(undefined)
    : Either.try({
        try: () => decodeURIComponent(s),
        catch: () => badUrl("has a % that is not followed by two hex digits"),
      })

interface UrlParts {
  readonly user: string | undefined
  readonly password: string | undefined
  readonly host: string | undefined
  readonly port: number | undefined
  readonly database: string | undefined
  readonly sslmode: string | undefined
  readonly parameters: Readonly<Record<string, string>>
}

const parseUrl = (raw: string): Either.Either<UrlParts, ConfigError> =>
  Either.gen(function* () {
    if (!URL.canParse(raw)) return yield* Either.left(badUrl("is not a valid URL"))
    const url = new URL(raw)
    if (!/^postgres(ql)?:$/.test(url.protocol)) return yield* Either.left(badUrl("is not a PostgreSQL URL"))
    const sslmode = url.searchParams.get("sslmode") ?? undefined
    if (sslmode !== undefined && !sslModes.some((m) => m === sslmode)) {
      return yield* Either.left(
        new ConfigError({
          message: `DATABASE_URL has sslmode=${sslmode}, which is not an sslmode: use one of ${sslModes.join(", ")}`,
        }),
      )
    }
    const parts = {
      user: yield* decoded(url.username),
      password: yield* decoded(url.password),
      // An IPv6 address comes bracketed ([::1]); the socket wants it bare.
      host: yield* decoded(url.hostname.replace(/^\[(.*)\]$/, "$1")),
      port: url.port === "" ? undefined : Number(url.port),
      database: yield* decoded(url.pathname.slice(1)),
      sslmode,
      parameters: Object.fromEntries([...url.searchParams].filter(([k]) => k !== "sslmode")),
    }
    // A connection URL has no fragment: a # there is an unencoded one in the password.
    if (raw.includes("#")) return yield* Either.left(badUrl("contains a # (a URL fragment)"))
    return parts
  })

/**
 * Resolves the settings into a connection: the URL first, then the PG* variables, then libpq's
 * defaults. A malformed URL is a ConfigError that never quotes it.
 */
export const connectionOf = (settings: PgSettings): Either.Either<PgConnection, ConfigError> =>
  Either.gen(function* () {
    const url = Option.isSome(settings.url) ? yield* parseUrl(Redacted.value(settings.url.value)) : undefined
    const user = url?.user ?? Option.getOrUndefined(settings.user) ?? "postgres"
    const host = url?.host ?? Option.getOrUndefined(settings.host) ?? "localhost"
    const port = url?.port || Option.getOrUndefined(settings.port) || 5432
    const database = url?.database ?? Option.getOrUndefined(settings.database) ?? user
    const ssl = sslOf(url?.sslmode ?? Option.getOrUndefined(settings.sslmode))
    const password =
      url?.password !== undefined ? Option.some(Redacted.make(url.password)) : settings.password
    return {
      endpoint: { user, host, port, database, ssl, display: `${user}@${host}:${port}/${database}` },
      password,
      parameters: url?.parameters ?? {},
    }
  })

/** The endpoint of the settings (see `connectionOf`). */
export const endpointOf = (settings: PgSettings): PgEndpoint | ConfigError =>
  Either.match(connectionOf(settings), { onLeft: (e) => e, onRight: (c) => c.endpoint })
