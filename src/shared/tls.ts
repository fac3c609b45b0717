import { Predicate, Schema } from "effect"

/** OpenSSL's (Bun's, Node's) codes for a certificate the client will not accept, in plain words. */
const certificateCodes: Readonly<Record<string, string>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "not signed by a CA this machine trusts",
  UNABLE_TO_GET_ISSUER_CERT: "not signed by a CA this machine trusts",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "not signed by a CA this machine trusts",
  SELF_SIGNED_CERT_IN_CHAIN: "signed by a CA this machine does not trust",
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed",
  CERT_UNTRUSTED: "not trusted",
  CERT_HAS_EXPIRED: "expired",
  CERT_NOT_YET_VALID: "not valid yet",
  ERR_TLS_CERT_ALTNAME_INVALID: "made out for another host name",
  HOSTNAME_MISMATCH: "made out for another host name",
  CERT_REVOKED: "revoked",
}

/** Deno's wording (rustls) for the same cases. */
const certificateMessages: ReadonlyArray<readonly [RegExp, string]> = [
  [/UnknownIssuer|invalid peer certificate.*issuer/i, "not signed by a CA this machine trusts"],
  [/NotValidForName|certificate is not valid for/i, "made out for another host name"],
  [/Expired/i, "expired"],
]

/**
 * Why the server's TLS certificate was refused, when that is what `error` (or an error it wraps)
 * says; undefined for any other failure.
 */
export const certificateProblem = (error: unknown): string | undefined => {
  let at: unknown = error
  for (let depth = 0; depth < 4 && at !== undefined && at !== null; depth++) {
    if (Predicate.hasProperty(at, "code") && typeof at.code === "string") {
      const phrase = certificateCodes[at.code]
      if (phrase !== undefined) return phrase
    }
    if (Predicate.hasProperty(at, "message") && typeof at.message === "string") {
      for (const [pattern, phrase] of certificateMessages) {
        if (/certificate/i.test(at.message) && pattern.test(at.message)) return phrase
      }
    }
    at = Predicate.hasProperty(at, "cause") ? at.cause : undefined
  }
  return undefined
}

/**
 * The server's TLS certificate was refused. Not retried: it will be refused again. Verification is
 * never switched off; the way on is to trust the CA that made the certificate.
 */
export class UntrustedCertificate extends Schema.TaggedError<UntrustedCertificate>()("UntrustedCertificate", {
  /** The server as the user named it (no credentials). */
  server: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `the TLS certificate of ${this.server} is ${this.reason}: if it is the right server, trust the CA that signed it with NODE_EXTRA_CA_CERTS=/path/to/ca.pem`
  }
}
