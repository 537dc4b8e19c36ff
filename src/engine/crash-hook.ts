/**
 * A fault-injection hook for the crash tests, and nothing else: with
 * `MESHSIGN_TEST_CRASH_AT=<step>:<namespace>/<certificate>` in the environment
 * of `meshsign serve`, the process kills itself with SIGKILL right after the
 * engine's write for that step of that Certificate's issuance was
 * acknowledged, so a test can check what a restart makes of the state a real
 * `kill -9` at that instant leaves behind.
 *
 * Without the variable {@link withCrashHook} returns the store and sink it was
 * given, unwrapped: no code of this module runs in production. A value that
 * does not parse stops the engine from starting rather than running without
 * the crash a test asked for.
 */
import { writeSync } from "node:fs";
import { MeshsignError } from "../errors/index.js";
import type { KubeObject, ResourceType, Store } from "../store/types.js";
import { ANN, LABEL } from "./lib/annotations.js";
import { CERTIFICATE_REQUESTS, CERTIFICATES, type Certificate, type CertificateRequest, SECRETS, type Secret } from "./lib/api.js";
import type { SecretSink } from "./secret-files.js";

/** The environment variable that arms the hook. */
export const CRASH_AT_ENV = "MESHSIGN_TEST_CRASH_AT";

/** The acknowledged writes of one issuance, in the order the reconciler makes them. */
export const CRASH_STEPS = ["key-staged", "request-created", "request-signed", "secret-written", "files-published", "status-updated"] as const;
export type CrashStep = (typeof CRASH_STEPS)[number];

/** Wraps `store` and `sink` so the process dies after the step `spec` names; returns them as they are when `spec` is unset. */
export function withCrashHook<S extends SecretSink | undefined>(spec: string | undefined, store: Store, sink: S, die: (what: string) => void = sigkillSelf): { store: Store; sink: S } {
  if (spec === undefined || spec === "") return { store, sink };
  const m = /^([a-z-]+):([^/\s]+)\/(\S+)$/.exec(spec);
  const step = m?.[1] as CrashStep | undefined;
  if (m === null || step === undefined || !CRASH_STEPS.includes(step)) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${CRASH_AT_ENV}: expected <step>:<namespace>/<certificate> with step one of ${CRASH_STEPS.join(", ")}`);
  }
  const target = { namespace: m[2] as string, name: m[3] as string };
  const after = (s: CrashStep, namespace: string | undefined, certificate: string | undefined): void => {
    if (s === step && namespace === target.namespace && certificate === target.name) die(`${CRASH_AT_ENV}: SIGKILL after ${s} of ${namespace}/${certificate}`);
  };
  const certificateOf = (o: KubeObject): string | undefined =>
    o.metadata.annotations?.[ANN.certificateName] ?? o.metadata.ownerReferences?.find((r) => r.kind === "Certificate")?.name;
  const same = (a: ResourceType, b: ResourceType): boolean => a.group === b.group && a.kind === b.kind;

  const wrapped: Store = {
    get: (type, namespace, name) => store.get(type, namespace, name),
    list: (type, options) => store.list(type, options),
    watch: (type, onEvent, options) => store.watch(type, onEvent, options),
    delete: (type, namespace, name, options) => store.delete(type, namespace, name, options),
    close: () => store.close(),
    async create<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
      const out = await store.create(type, object);
      if (same(type, SECRETS) && out.metadata.labels?.[LABEL.nextPrivateKey] === "true") after("key-staged", out.metadata.namespace, certificateOf(out));
      else if (same(type, SECRETS) && (out as unknown as Secret).data?.["tls.crt"]) after("secret-written", out.metadata.namespace, certificateOf(out));
      else if (same(type, CERTIFICATE_REQUESTS)) after("request-created", out.metadata.namespace, certificateOf(out));
      return out;
    },
    async update<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
      const before = same(type, SECRETS) ? await store.get<Secret>(type, object.metadata.namespace, object.metadata.name ?? "") : undefined;
      const out = await store.update(type, object);
      const crt = (out as unknown as Secret).data?.["tls.crt"];
      if (same(type, SECRETS) && crt && crt !== before?.data?.["tls.crt"]) after("secret-written", out.metadata.namespace, certificateOf(out));
      return out;
    },
    async updateStatus<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
      const before = await store.get<Certificate | CertificateRequest>(type, object.metadata.namespace, object.metadata.name ?? "");
      const out = await store.updateStatus(type, object);
      if (same(type, CERTIFICATE_REQUESTS)) {
        const signed = (out as unknown as CertificateRequest).status?.certificate;
        if (signed && signed !== (before as CertificateRequest | undefined)?.status?.certificate) after("request-signed", out.metadata.namespace, certificateOf(out));
      } else if (same(type, CERTIFICATES)) {
        const revision = (out as unknown as Certificate).status?.revision ?? 0;
        if (revision > ((before as Certificate | undefined)?.status?.revision ?? 0)) after("status-updated", out.metadata.namespace, out.metadata.name);
      }
      return out;
    },
  };
  const wrappedSink =
    sink === undefined
      ? sink
      : ({
          publish: async (ref, files) => {
            await sink.publish(ref, files);
            after("files-published", ref.namespace, ref.certificateName);
          },
          remove: (ref) => sink.remove(ref),
        } satisfies SecretSink as S);
  return { store: wrapped, sink: wrappedSink };
}

function sigkillSelf(what: string): void {
  // Synchronous, so the line is out before the signal; then the same death as `kill -9`.
  writeSync(2, `${what}\n`);
  process.kill(process.pid, "SIGKILL");
}
