import { Schema } from "effect"

/** Errors only the HTTP mode meets, one per answer a caller can act on; in the one error table. */

/** No token, or the wrong one, on a route that needs it. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  reason: Schema.String,
}) {
  override get message() {
    return `${this.reason}: send Authorization: Bearer <token> (the server's DBSWEEP_TOKEN)`
  }
}

/** Status and metrics asked for from another host while the server keeps them to loopback. */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {}) {
  override get message() {
    return "status and metrics are readable from this host only: start the server with --public-status, or send the token"
  }
}

/** No run, schedule or route by that name. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  what: Schema.String,
}) {
  override get message() {
    return `${this.what} not found`
  }
}

/** A run of the same job and target is already going. */
export class JobConflict extends Schema.TaggedError<JobConflict>()("JobConflict", {
  job: Schema.String,
  target: Schema.String,
  runningId: Schema.String,
}) {
  override get message() {
    return `${this.job} of ${this.target} is already running as ${this.runningId}: watch it at /jobs/${this.runningId} or cancel it first`
  }
}

/** A job whose backend the server was not configured with. */
export class JobUnavailable extends Schema.TaggedError<JobUnavailable>()("JobUnavailable", {
  job: Schema.String,
  needs: Schema.String,
}) {
  override get message() {
    return `${this.job} is not available on this server: ${this.needs}`
  }
}

/** A body that is not JSON, or larger than the server takes. */
export class BadBody extends Schema.TaggedError<BadBody>()("BadBody", {
  reason: Schema.String,
  tooLarge: Schema.Boolean,
}) {
  override get message() {
    return this.reason
  }
}

export type HttpError = Unauthorized | Forbidden | NotFound | JobConflict | JobUnavailable | BadBody
