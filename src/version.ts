declare const DBSWEEP_VERSION: string | undefined

/** Defined at build time (`bun build --define`); the package version when run from source. */
export const version: string = typeof DBSWEEP_VERSION === "string" ? DBSWEEP_VERSION : "0.1.0-dev"
