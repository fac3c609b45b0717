import { JSONSchema, Schema } from "effect"
import { Hono } from "hono"
import { CleanupOptionsSchema } from "../cleanup/options.ts"
import { MigrateOptions } from "../docs/migrate.ts"
import { PurgeManyOptions } from "../purge/many-options.ts"
import { PurgeOptions } from "../purge/options.ts"
import { version } from "../version.ts"
import { requireStatusAccess } from "./auth.ts"
import type { HttpEnv, HttpSettings } from "./respond.ts"

/** The answers' shapes, as Schemas so the document is generated like the bodies' are. */
const ErrorBody = Schema.Struct({ error: Schema.String, message: Schema.String })
const Started = Schema.Struct({ id: Schema.String })
const Saved = Schema.Struct({ id: Schema.String, rev: Schema.String })
const Doc = Schema.Record({ key: Schema.String, value: Schema.Unknown })
const RunStatus = Schema.Struct({
  id: Schema.String,
  job: Schema.String,
  target: Schema.String,
  trigger: Schema.Literal("manual", "schedule"),
  state: Schema.Literal("running", "succeeded", "failed", "interrupted"),
  progress: Schema.Struct({
    label: Schema.String,
    done: Schema.Number,
    total: Schema.Number,
    ratePerSecond: Schema.Number,
    parts: Schema.optional(
      Schema.Array(Schema.Struct({ name: Schema.String, done: Schema.Number, total: Schema.Number })),
    ),
    held: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Number })),
  }),
  startedAt: Schema.String,
  finishedAt: Schema.optional(Schema.String),
  summary: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.String),
})
const ScheduleStatus = Schema.Struct({
  id: Schema.String,
  job: Schema.String,
  target: Schema.String,
  schedule: Schema.String,
  state: Schema.Literal("waiting", "running", "stopped"),
  nextRunAt: Schema.optional(Schema.String),
  runs: Schema.Number,
  lastRunId: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String),
})

type Name =
  | "PurgeOptions"
  | "PurgeManyOptions"
  | "CleanupOptions"
  | "MigrateOptions"
  | "Error"
  | "Started"
  | "Saved"
  | "Document"
  | "RunStatus"
  | "ScheduleStatus"

/** A Schema's JSON Schema, its shared definitions lifted beside it into `components.schemas`. */
const component = <A, I, R>(name: Name, schema: Schema.Schema<A, I, R>): Record<string, unknown> => {
  const { $schema: _, $defs, ...rest } = JSONSchema.make(schema)
  return { ...$defs, [name]: rest }
}

const components = () => {
  const schemas = {
    ...component("PurgeOptions", PurgeOptions),
    ...component("PurgeManyOptions", PurgeManyOptions),
    ...component("CleanupOptions", CleanupOptionsSchema),
    ...component("MigrateOptions", MigrateOptions),
    ...component("Error", ErrorBody),
    ...component("Started", Started),
    ...component("Saved", Saved),
    ...component("Document", Doc),
    ...component("RunStatus", RunStatus),
    ...component("ScheduleStatus", ScheduleStatus),
  }
  return JSON.parse(JSON.stringify(schemas).replaceAll('"#/$defs/', '"#/components/schemas/')) as unknown
}

const ref = (name: Name) => ({ $ref: `#/components/schemas/${name}` })
const json = (description: string, schema: object) => ({
  description,
  content: { "application/json": { schema } },
})
const errors = (...codes: ReadonlyArray<number>) =>
  Object.fromEntries(codes.map((code) => [String(code), json("error", ref("Error"))]))
const bearer = [{ bearer: [] }]
const idParam = { name: "id", in: "path", required: true, schema: { type: "string" } }
const collectionParam = { ...idParam, name: "collection" }

const startJob = (options: Name | ReadonlyArray<Name>, summary: string) => ({
  summary,
  security: bearer,
  requestBody: {
    required: false,
    content: {
      "application/json": {
        schema: typeof options === "string" ? ref(options) : { oneOf: options.map(ref) },
      },
    },
  },
  responses: { "202": json("started", ref("Started")), ...errors(400, 401, 409, 413, 503) },
})

/** The server's own routes: the page, health, metrics, this document, schedules. */
const servicePaths = () => ({
  "/": { get: { summary: "status page (HTML)", responses: { "200": { description: "the page" } } } },
  "/healthz": { get: { summary: "liveness", responses: { "200": { description: "alive" } } } },
  "/readyz": {
    get: {
      summary: "every configured backend reachable",
      responses: { "200": { description: "ready" }, "503": { description: "a backend is unreachable" } },
    },
  },
  "/metrics": { get: { summary: "Prometheus text", responses: { "200": { description: "metrics" } } } },
  "/openapi.json": { get: { summary: "this document", responses: { "200": { description: "OpenAPI" } } } },
  "/schedules": {
    get: {
      summary: "schedules and their next runs",
      responses: { "200": json("schedules", { type: "array", items: ref("ScheduleStatus") }) },
    },
  },
})

/** The page's sections and the databases table as JSON. */
const pagePaths = () => ({
  "/page/{part}": {
    get: {
      summary: "one section of the status page (HTML), for its script to refresh",
      parameters: [
        {
          name: "part",
          in: "path",
          required: true,
          schema: { type: "string", enum: ["databases", "running", "history", "cleanup", "schedules"] },
        },
      ],
      responses: { "200": { description: "the section's HTML" }, "404": { description: "no such section" } },
    },
  },
  "/databases": {
    get: {
      summary:
        "the databases with their tombstones and sizes, a page at a time (q: name glob; sort, dir; from: first name; page; size)",
      parameters: ["q", "sort", "dir", "from", "page", "size"].map((name) => ({
        name,
        in: "query",
        required: false,
        schema: { type: "string" },
      })),
      responses: { "200": json("one page of databases", { type: "object" }), ...errors(401, 503) },
    },
  },
})

/** Runs: list, start, read, stop, follow. */
const jobPaths = () => ({
  "/jobs": {
    get: {
      summary: "runs, running first",
      responses: { "200": json("runs", { type: "array", items: ref("RunStatus") }) },
    },
  },
  "/jobs/purge": {
    post: startJob(
      ["PurgeOptions", "PurgeManyOptions"],
      "start a purge (dryRun: true to count only) of one database (db), or of several (dbs: names and globs such as userdb-*, allDbs: true for all but the system databases; dbConcurrency at once)",
    ),
  },
  "/jobs/cleanup": { post: startJob("CleanupOptions", "start a cleanup (dryRun: true to count only)") },
  "/jobs/migrate": {
    post: startJob("MigrateOptions", "copy collections between stores (dryRun: true to count only)"),
  },
  "/jobs/{id}": {
    get: {
      summary: "a run",
      parameters: [idParam],
      responses: { "200": json("run", ref("RunStatus")), ...errors(404) },
    },
    delete: {
      summary: "stop a run gracefully (its checkpoint holds)",
      security: bearer,
      parameters: [idParam],
      responses: { "200": json("the run as it ended", ref("RunStatus")), ...errors(401, 404) },
    },
  },
  "/jobs/{id}/events": {
    get: {
      summary: "the run's status as server-sent events until it ends",
      parameters: [idParam],
      responses: { "200": { description: "text/event-stream of RunStatus" }, ...errors(404) },
    },
  },
})

/** The document API. */
const docPaths = () => ({
  "/docs": {
    get: {
      summary: "collections",
      responses: { "200": json("names", { type: "array", items: { type: "string" } }) },
    },
  },
  "/docs/{collection}": {
    get: {
      summary:
        "documents in id order: paged JSON (?limit, ?after), or NDJSON with Accept: application/x-ndjson",
      parameters: [collectionParam],
      responses: { "200": json("a page", { type: "object" }), ...errors(400, 404, 503) },
    },
  },
  "/docs/{collection}/{id}": {
    get: {
      summary: "a document",
      parameters: [collectionParam, idParam],
      responses: { "200": json("the document", ref("Document")), ...errors(404, 503) },
    },
    put: {
      summary: "save a document",
      security: bearer,
      parameters: [collectionParam, idParam],
      requestBody: { required: true, content: { "application/json": { schema: ref("Document") } } },
      responses: { "200": json("saved", ref("Saved")), ...errors(400, 401, 409, 413, 503) },
    },
    delete: {
      summary: "delete a document",
      security: bearer,
      parameters: [collectionParam, idParam],
      responses: { "200": json("deleted", ref("Saved")), ...errors(401, 404, 503) },
    },
  },
})

/** The OpenAPI 3.1 document of every route. */
export const openApiDocument = () => ({
  openapi: "3.1.0",
  info: { title: "dbsweep serve", version },
  components: {
    schemas: components(),
    securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
  },
  paths: { ...servicePaths(), ...pagePaths(), ...jobPaths(), ...docPaths() },
})

export const openApiRoutes = (settings: HttpSettings) => {
  const document = openApiDocument()
  return new Hono<HttpEnv>().get("/openapi.json", requireStatusAccess(settings), (c) => c.json(document))
}
