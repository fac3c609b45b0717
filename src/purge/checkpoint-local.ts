import { Clock, Effect, Layer, Option, Schema } from "effect"
import { CouchClient, type CouchClientShape } from "../couch/client.ts"
import { CheckpointStore } from "./checkpoint.ts"
import { historyOf, type Observation, recordObservation, storedHistory } from "./grace.ts"

/**
 * The default store: a `_local/` document inside the database itself. Local docs are not
 * replicated, not in `_changes`, and survive purges, so the checkpoint stays with the data.
 * https://docs.couchdb.org/en/stable/api/local.html
 *
 * The document: `{"seq", "observations":[{"at","seq"}], "updated_at", "by"}`; `observations` is
 * `--grace`'s bounded history, kept by every write whether or not the run has a grace.
 */
export const checkpointDocId = "dbsweep-purge"

const CheckpointDoc = Schema.Struct({
  _rev: Schema.optional(Schema.String),
  seq: Schema.optional(Schema.String),
  observations: Schema.optional(Schema.Unknown),
})

interface Known {
  readonly rev: string | undefined
  readonly seq: string | undefined
  readonly observations: ReadonlyArray<Observation>
}

export const makeLocalDocCheckpointStore = (couch: CouchClientShape) =>
  Effect.sync(() => {
    // Updating a _local doc needs its current _rev; remembered per database after each read/write,
    // with the observations, so a checkpoint write keeps them.
    const known = new Map<string, Known>()
    const read = (db: string) =>
      couch.getLocal(db, checkpointDocId).pipe(
        Effect.map(Option.flatMap((doc) => Schema.decodeUnknownOption(CheckpointDoc)(doc))),
        Effect.map(
          (doc): Known =>
            Option.match(doc, {
              onNone: () => ({ rev: undefined, seq: undefined, observations: [] }),
              onSome: (d) => ({ rev: d._rev, seq: d.seq, observations: historyOf(d.observations) }),
            }),
        ),
        Effect.tap((k) => Effect.sync(() => known.set(db, k))),
      )
    const bodyOf = (doc: Known, rev: string | undefined, now: number) => ({
      ...(rev === undefined ? {} : { _rev: rev }),
      ...(doc.seq === undefined ? {} : { seq: doc.seq }),
      ...(doc.observations.length === 0 ? {} : { observations: storedHistory(doc.observations) }),
      updated_at: new Date(now).toISOString(),
      by: "dbsweep purge",
    })
    const write = (db: string, doc: Known) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) =>
          couch.putLocal(db, checkpointDocId, bodyOf(doc, doc.rev, now)).pipe(
            // CouchDB 3.5 never answers 409 for _local docs (COUCHDB-FACTS §8); an older server or
            // a proxy might: take the current rev and write ours over it.
            Effect.catchTag("CouchConflict", () =>
              read(db).pipe(
                Effect.flatMap((fresh) => couch.putLocal(db, checkpointDocId, bodyOf(doc, fresh.rev, now))),
              ),
            ),
          ),
        ),
        Effect.tap((rev) => Effect.sync(() => known.set(db, { ...doc, rev }))),
        Effect.asVoid,
      )
    const current = (db: string) => {
      const k = known.get(db)
      return k === undefined ? read(db) : Effect.succeed(k)
    }
    return CheckpointStore.of({
      describe: (db) => `${couch.server}/${db}/_local/${checkpointDocId}`,
      // Nothing to probe: _purge needs a server admin, and a server admin may always write _local
      // docs of an existing database (which dbInfo has already confirmed).
      check: () => Effect.void,
      load: (db) => read(db).pipe(Effect.map((k) => Option.fromNullable(k.seq))),
      // The observations go along as last read or written (read first if this process never did).
      save: (db, seq) => current(db).pipe(Effect.flatMap((k) => write(db, { ...k, seq }))),
      observations: {
        load: (db) => current(db).pipe(Effect.map((k) => k.observations)),
        // Read fresh and written with the seq just read: an observation never moves the checkpoint.
        record: (db, observation) =>
          read(db).pipe(
            Effect.flatMap((k) =>
              write(db, { ...k, observations: recordObservation(k.observations, observation) }),
            ),
          ),
      },
    })
  })

export const LocalDocCheckpointStore = Layer.effect(
  CheckpointStore,
  CouchClient.pipe(Effect.flatMap(makeLocalDocCheckpointStore)),
)
