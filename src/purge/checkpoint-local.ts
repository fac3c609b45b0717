import { Clock, Effect, Layer, Option, Schema } from "effect"
import { CouchClient, type CouchClientShape } from "../couch/client.ts"
import { CheckpointStore } from "./checkpoint.ts"

/**
 * The default store: a `_local/` document inside the database itself. Local docs are not
 * replicated, not in `_changes`, and survive purges, so the checkpoint stays with the data.
 * https://docs.couchdb.org/en/stable/api/local.html
 */
export const checkpointDocId = "dbsweep-purge"

const CheckpointDoc = Schema.Struct({
  _rev: Schema.optional(Schema.String),
  seq: Schema.optional(Schema.String),
})

export const makeLocalDocCheckpointStore = (couch: CouchClientShape) =>
  Effect.sync(() => {
    // Updating a _local doc needs its current _rev; remembered per database after each read/write.
    const revs = new Map<string, string>()
    const read = (db: string) =>
      couch.getLocal(db, checkpointDocId).pipe(
        Effect.map(Option.flatMap((doc) => Schema.decodeUnknownOption(CheckpointDoc)(doc))),
        Effect.tap((doc) =>
          Effect.sync(() => {
            const rev = Option.getOrUndefined(doc)?._rev
            if (rev === undefined) revs.delete(db)
            else revs.set(db, rev)
          }),
        ),
      )
    return CheckpointStore.of({
      describe: (db) => `${couch.server}/${db}/_local/${checkpointDocId}`,
      // Nothing to probe: _purge needs a server admin, and a server admin may always write _local
      // docs of an existing database (which dbInfo has already confirmed).
      check: () => Effect.void,
      load: (db) => read(db).pipe(Effect.map(Option.flatMap((d) => Option.fromNullable(d.seq)))),
      save: (db, seq) => {
        const write = (rev: string | undefined) =>
          Clock.currentTimeMillis.pipe(
            Effect.flatMap((now) =>
              couch.putLocal(db, checkpointDocId, {
                ...(rev === undefined ? {} : { _rev: rev }),
                seq,
                updated_at: new Date(now).toISOString(),
                by: "dbsweep purge",
              }),
            ),
          )
        return write(revs.get(db)).pipe(
          // CouchDB 3.5 never answers 409 for _local docs (COUCHDB-FACTS §8); an older server or a
          // proxy might: take the current rev and write ours over it.
          Effect.catchTag("CouchConflict", () =>
            read(db).pipe(Effect.flatMap((doc) => write(Option.getOrUndefined(doc)?._rev))),
          ),
          Effect.tap((rev) => Effect.sync(() => revs.set(db, rev))),
          Effect.asVoid,
        )
      },
    })
  })

export const LocalDocCheckpointStore = Layer.effect(
  CheckpointStore,
  CouchClient.pipe(Effect.flatMap(makeLocalDocCheckpointStore)),
)
