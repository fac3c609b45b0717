import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deployment } from "kubernetes-models/apps/v1/Deployment"
import { CronJob } from "kubernetes-models/batch/v1/CronJob"
import { Service } from "kubernetes-models/v1/Service"
import { listeningUrl, runBinary, spawnBinary } from "../support/binary.ts"
import { type CouchServer, startCouchServer } from "../support/couch-server.ts"
import { type CouchTarget, couch, seed } from "../support/couch-target.ts"

/**
 * deploy/kubernetes/: every manifest is valid against the Kubernetes API schemas (kubernetes-models),
 * says what the README promises (an Indexed Job of 4 with Forbid, credentials and the token from
 * Secrets, resources, probes), and its commands are ones the binary accepts and runs.
 */

const dir = join(import.meta.dir, "..", "..", "deploy", "kubernetes")

// biome-ignore lint/suspicious/noExplicitAny: manifests are plain parsed YAML
type Doc = any

/** The TypeScript type of each kind in kubernetes-models: [module, interface]. */
const types: Record<string, readonly [string, string]> = {
  "batch/v1 CronJob": ["kubernetes-models/batch/v1/CronJob", "ICronJob"],
  "apps/v1 Deployment": ["kubernetes-models/apps/v1/Deployment", "IDeployment"],
  "v1 Service": ["kubernetes-models/v1/Service", "IService"],
}

const root = join(import.meta.dir, "..", "..")

/**
 * Type-checks documents against kubernetes-models' interfaces with tsc: an object literal may hold
 * only known fields, so a misspelt one (`concurencyPolicy`, which the schema validation lets
 * through and the API server's strict field validation refuses) is an error. tsc's output.
 */
const typeCheck = (documents: ReadonlyArray<Doc>): { code: number; output: string } => {
  // Under the repository, so that kubernetes-models resolves; test/artifacts/ is git-ignored.
  const where = join(root, "test", "artifacts", `k8s-types-${process.pid}-${Date.now()}`)
  mkdirSync(where, { recursive: true })
  try {
    const file = join(where, "manifests.ts")
    const kinds = [...new Set(documents.map((d) => `${d.apiVersion} ${d.kind}`))]
    writeFileSync(
      file,
      [
        ...kinds.map((k) => `import type { ${types[k]![1]} } from "${types[k]![0]}"`),
        ...documents.map(
          (d, i) =>
            `export const doc${i} = ${JSON.stringify(d)} satisfies ${types[`${d.apiVersion} ${d.kind}`]![1]}`,
        ),
      ].join("\n"),
    )
    const r = Bun.spawnSync(
      [
        join(root, "node_modules", ".bin", "tsc"),
        "--noEmit",
        "--strict",
        "--skipLibCheck",
        "--target",
        "es2022",
        "--module",
        "esnext",
        "--moduleResolution",
        "bundler",
        file,
      ],
      { cwd: root, stdout: "pipe", stderr: "pipe" },
    )
    return { code: r.exitCode, output: `${r.stdout.toString()}${r.stderr.toString()}` }
  } finally {
    rmSync(where, { recursive: true, force: true })
  }
}

const models: Record<string, new (data: Doc) => { validate(): void }> = {
  "batch/v1 CronJob": CronJob,
  "apps/v1 Deployment": Deployment,
  "v1 Service": Service,
}

const manifests = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
  .sort()
const docs: Array<{ file: string; doc: Doc }> = manifests.flatMap((file) => {
  const parsed = Bun.YAML.parse(readFileSync(join(dir, file), "utf8"))
  return (Array.isArray(parsed) ? parsed : [parsed]).map((doc) => ({ file, doc }))
})
const one = (kind: string): Doc => {
  const found = docs.filter((d) => d.doc?.kind === kind)
  expect(found).toHaveLength(1)
  return found[0]!.doc
}
const containersOf = (podSpec: Doc): Array<Doc> => [...(podSpec.initContainers ?? []), ...podSpec.containers]
const envOf = (container: Doc, name: string): Doc => container.env.find((e: Doc) => e.name === name)

describe("deploy/kubernetes manifests", () => {
  test("there are a CronJob, a Deployment and a Service, and nothing of a kind the test cannot check", () => {
    expect(manifests).toEqual(["purge-cronjob.yaml", "serve.yaml"])
    expect(docs.map((d) => `${d.doc.apiVersion} ${d.doc.kind}`).sort()).toEqual(Object.keys(models).sort())
  })

  test("every manifest validates against the Kubernetes API schemas", () => {
    for (const { file, doc } of docs) {
      const Model = models[`${doc.apiVersion} ${doc.kind}`]
      expect(Model).toBeDefined()
      expect(() => new Model!(doc).validate(), `${file}: ${doc.kind}`).not.toThrow()
    }
  })

  test("the validation refuses a broken manifest (the check can fail)", () => {
    const cron = structuredClone(one("CronJob"))
    cron.spec.jobTemplate.spec.completions = "four"
    expect(() => new CronJob(cron).validate()).toThrow(/completions/)
    const deployment = structuredClone(one("Deployment"))
    delete deployment.spec.selector
    expect(() => new Deployment(deployment).validate()).toThrow(/selector/)
  })

  test("no manifest has a field the Kubernetes API does not know (type-checked against kubernetes-models)", () => {
    expect(typeCheck(docs.map((d) => d.doc))).toEqual({ code: 0, output: "" })
    // The check can fail: the schema validation above lets a misspelt field through, this does not.
    const typo = structuredClone(one("CronJob"))
    typo.spec.concurencyPolicy = typo.spec.concurrencyPolicy
    delete typo.spec.concurrencyPolicy
    expect(() => new CronJob(typo).validate()).not.toThrow()
    const refused = typeCheck([typo])
    expect(refused.code).not.toBe(0)
    expect(refused.output).toContain("concurencyPolicy")
  }, 60_000)

  test("the CronJob: an Indexed Job of 4 over all databases, never two at once, credentials from a Secret, resources set", () => {
    const cron = one("CronJob")
    expect(cron.spec.concurrencyPolicy).toBe("Forbid")
    const job = cron.spec.jobTemplate.spec
    expect(job.completionMode).toBe("Indexed")
    expect(job.completions).toBe(4)
    expect(job.parallelism).toBe(4)
    const [purge] = job.template.spec.containers
    expect(purge.args.slice(0, 2)).toEqual(["purge", "--all-dbs"])
    // DBSWEEP_PARTITIONS is the number of indexes: otherwise databases are skipped or split wrong.
    expect(Number(envOf(purge, "DBSWEEP_PARTITIONS").value)).toBe(job.completions)
    expect(envOf(purge, "JOB_COMPLETION_INDEX")).toBeUndefined()
    for (const name of ["COUCHDB_URL", "COUCHDB_USER", "COUCHDB_PASSWORD"]) {
      expect(envOf(purge, name).value).toBeUndefined()
      expect(envOf(purge, name).valueFrom.secretKeyRef.name).toBe("dbsweep-couchdb")
    }
  })

  test("every container has requests and limits for cpu and memory, and runs as non-root", () => {
    const pods = [one("CronJob").spec.jobTemplate.spec.template.spec, one("Deployment").spec.template.spec]
    for (const pod of pods) {
      expect(pod.securityContext.runAsNonRoot).toBe(true)
      for (const c of containersOf(pod)) {
        for (const kind of ["requests", "limits"]) {
          expect(Object.keys(c.resources[kind]).sort(), `${c.name} ${kind}`).toEqual(["cpu", "memory"])
        }
        expect(c.securityContext.allowPrivilegeEscalation).toBe(false)
      }
    }
  })

  test("the Deployment: serve with its token from a Secret, probes on /healthz and /readyz; the Service reaches it", () => {
    const deployment = one("Deployment")
    const pod = deployment.spec.template.spec
    const [serve] = pod.containers
    expect(serve.args[0]).toBe("serve")
    expect(serve.livenessProbe.httpGet.path).toBe("/healthz")
    expect(serve.readinessProbe.httpGet.path).toBe("/readyz")
    const portNames = serve.ports.map((p: Doc) => p.name)
    expect(portNames).toContain(serve.livenessProbe.httpGet.port)
    expect(portNames).toContain(serve.readinessProbe.httpGet.port)
    const port = serve.ports.find((p: Doc) => p.name === "http").containerPort
    expect(Number(envOf(serve, "DBSWEEP_PORT").value)).toBe(port)
    // The token: a file on a volume of the Secret, at the path DBSWEEP_TOKEN_FILE names.
    expect(envOf(serve, "DBSWEEP_TOKEN")).toBeUndefined()
    const tokenFile: string = envOf(serve, "DBSWEEP_TOKEN_FILE").value
    const mount = serve.volumeMounts.find((m: Doc) => tokenFile.startsWith(`${m.mountPath}/`))
    expect(mount).toBeDefined()
    const volume = pod.volumes.find((v: Doc) => v.name === mount.name)
    expect(volume.secret.secretName).toBe("dbsweep-serve-token")
    expect(volume.secret.items.map((i: Doc) => i.path)).toContain(tokenFile.slice(mount.mountPath.length + 1))
    for (const name of ["COUCHDB_URL", "COUCHDB_USER", "COUCHDB_PASSWORD"]) {
      expect(envOf(serve, name).valueFrom.secretKeyRef.name).toBe("dbsweep-couchdb")
    }
    const service = one("Service")
    for (const [k, v] of Object.entries(service.spec.selector)) {
      expect(deployment.spec.template.metadata.labels[k]).toBe(v)
      expect(deployment.spec.selector.matchLabels[k]).toBe(v)
    }
    expect(portNames).toContain(service.spec.ports[0].targetPort)
  })
})

describe("the manifests' commands, run by the compiled binary", () => {
  let server: CouchServer
  const user = "admin"
  const password = "k8s-manifests-Passw0rd"
  const tmp = mkdtempSync(join(tmpdir(), "dbsweep-k8s-"))
  beforeAll(async () => {
    server = await startCouchServer({ admin: { user, password }, version: "3.5.0" })
  })
  afterAll(async () => {
    await server.stop()
    rmSync(tmp, { recursive: true, force: true })
  })
  const secretEnv = () => ({ COUCHDB_URL: server.url, COUCHDB_USER: user, COUCHDB_PASSWORD: password })

  test("the CronJob's pods (its args and DBSWEEP_PARTITIONS, each JOB_COMPLETION_INDEX) together select every database once", async () => {
    const target: CouchTarget = {
      url: server.url,
      user,
      password,
      faults: (f) => server.setFaults(f),
      stop: () => server.stop(),
    }
    const dbs = Array.from({ length: 24 }, (_, i) => `k8s-${String(i).padStart(2, "0")}`)
    for (const db of dbs) {
      await couch(target, "PUT", `/${db}`)
      await seed(target, db, { tombstones: 1 })
    }
    const job = one("CronJob").spec.jobTemplate.spec
    const [purge] = job.template.spec.containers
    const fixed = Object.fromEntries(
      purge.env.filter((e: Doc) => e.value !== undefined).map((e: Doc) => [e.name, e.value]),
    )
    const selected: Array<string> = []
    for (let index = 0; index < job.completions; index++) {
      const r = await runBinary([...purge.args, "--no-env-file", "--dry-run", "--json"], {
        env: { ...fixed, ...secretEnv(), JOB_COMPLETION_INDEX: String(index) },
        cwd: tmp,
      })
      expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" })
      const summary = JSON.parse(r.stdout) as { partition: string; databases: Array<{ db: string }> }
      expect(summary.partition).toBe(`${index}/${job.completions}`)
      selected.push(...summary.databases.map((d) => d.db))
    }
    expect(selected.sort()).toEqual(dbs)
  })

  test("the Deployment's serve answers its probes with the token from a file (on 127.0.0.1 here)", async () => {
    const [serve] = one("Deployment").spec.template.spec.containers
    const tokenFile = join(tmp, "token")
    writeFileSync(tokenFile, `${"t0ken-".repeat(6)}\n`, { mode: 0o440 })
    const fixed = Object.fromEntries(
      serve.env.filter((e: Doc) => e.value !== undefined).map((e: Doc) => [e.name, e.value]),
    )
    // A pod listens on 0.0.0.0; a test listens on 127.0.0.1 only, on a free port.
    const proc = spawnBinary([...serve.args, "--no-env-file"], {
      env: {
        ...fixed,
        ...secretEnv(),
        DBSWEEP_HOST: "127.0.0.1",
        DBSWEEP_PORT: "0",
        DBSWEEP_TOKEN_FILE: tokenFile,
      },
      cwd: tmp,
    })
    try {
      const { url } = await listeningUrl(proc.stderr)
      for (const probe of [serve.livenessProbe, serve.readinessProbe]) {
        const r = await fetch(`${url}${probe.httpGet.path}`)
        expect({ path: probe.httpGet.path, status: r.status }).toEqual({
          path: probe.httpGet.path,
          status: 200,
        })
      }
      // The token from the file guards the mutating routes.
      const refused = await fetch(`${url}/jobs/purge`, { method: "POST", body: "{}" })
      expect(refused.status).toBe(401)
    } finally {
      proc.kill("SIGTERM")
      await proc.exited
    }
  })
})
