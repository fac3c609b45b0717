declare const DBSWEEP_VERSION: string | undefined
declare const DBSWEEP_COMMIT: string | undefined
declare const DBSWEEP_TARGET: string | undefined

/** Defined at build time (`bun build --define`); the package version when run from source. */
export const version: string = typeof DBSWEEP_VERSION === "string" ? DBSWEEP_VERSION : "0.1.0-dev"

/** The git commit the binary was built from (`-dirty` with uncommitted changes). */
export const commit: string | undefined = typeof DBSWEEP_COMMIT === "string" ? DBSWEEP_COMMIT : undefined

/** The build target, e.g. `linux-x64`, `darwin-arm64`; the running platform when run from source. */
export const target: string =
  typeof DBSWEEP_TARGET === "string" ? DBSWEEP_TARGET : `${process.platform}-${process.arch}`

/** What `dbsweep --version` prints: `0.1.0 (commit 1a2b3c4d5e6f, linux-x64)`. */
export const versionLine = `${version} (${commit === undefined ? "from source" : `commit ${commit}`}, ${target})`
