/**
 * The SPIFFE trust bundle endpoint (SPIFFE_Trust_Domain_and_Bundle.md §5):
 * an HTTPS listener that answers `GET /` with the trust domain's bundle, so
 * that other trust domains (SPIRE, go-spiffe, Istio with federation) can
 * federate with the mesh. Off unless `--bundle-endpoint-address` is set.
 *
 * - https_web (§5.2.1): authenticated like any web server, by meshsign's own
 *   serving certificate (a client that trusts the mesh root verifies it) or by
 *   a configured certificate and key for a Web PKI name, re-read when the
 *   files change (a mounted cert-manager Secret renews in place).
 * - https_spiffe (§5.2.2): authenticated by an X.509-SVID of meshsign's own
 *   SPIFFE ID, `spiffe://<trust-domain>/meshsign`, which the engine issues
 *   and renews like the serving certificate.
 *
 * The document is built once per change of the roots, never per request; its
 * `spiffe_sequence` comes from a {@link BundleSequenceStore}, so it only grows.
 * The endpoint is public by design (bundles hold certificates, no secrets):
 * it answers nothing else, and no request can make it read a file.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import { join } from "node:path";
import type { Logger } from "pino";
import { MeshsignError } from "../errors/index.js";
import type { Store } from "../store/types.js";
import { BUNDLE_SEQUENCE_FILE, type BundleSequenceStore, buildSpiffeBundle, ConfigMapBundleSequence, FileBundleSequence } from "../trust/index.js";
import type { Config } from "./config.js";
import { controlPlaneIssuerRef } from "./mesh-ca-issuer.js";
import { ServingCertificate } from "./serving-cert.js";
import type { ServingKeyPair } from "./tls/rotating-credentials.js";

/** How often a configured certificate and key are re-read. */
const CERT_FILE_POLL_MS = 10_000;

export interface BundleEndpointOptions {
  readonly host: string;
  readonly port: number;
  readonly roots: string;
  readonly sequence: BundleSequenceStore;
  readonly refreshHintSeconds: number;
  /** The TLS identity: meshsign's serving certificate, its SVID, or the configured files' pair. */
  readonly serving: ServingKeyPair;
  /** https_web with configured files: re-read them and serve what they hold. */
  readonly certFiles?: { readonly cert: string; readonly key: string };
  /** How often certFiles are re-read (default 10s). */
  readonly certFilesPollMs?: number;
  readonly log: Logger;
}

export interface BundleEndpoint {
  readonly port: number;
  /** The body currently served (for `meshsign bundle` and tests). */
  readonly document: string;
  /** Publishes new roots: the sequence advances when the set of roots changed. */
  setRoots(pem: string): Promise<void>;
  /** A renewed serving certificate or SVID (ignored when the identity comes from files). */
  updateServing(pair: ServingKeyPair): void;
  close(): Promise<void>;
}

export async function startBundleEndpoint(options: BundleEndpointOptions): Promise<BundleEndpoint> {
  const build = async (roots: string): Promise<string> => {
    const state = await options.sequence.advance(roots, options.refreshHintSeconds);
    return `${JSON.stringify(buildSpiffeBundle(roots, { sequence: state.sequence, refreshHintSeconds: options.refreshHintSeconds }), null, 2)}\n`;
  };
  let document = await build(options.roots);
  // Root changes are applied in order, so a slower build never overwrites a newer one.
  let updates = Promise.resolve();

  const server: Server = createServer({ cert: options.serving.certificateChainPem, key: options.serving.privateKeyPem, minVersion: "TLSv1.2" }, (req, res) => {
    if (req.url !== "/" && !req.url?.startsWith("/?")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the SPIFFE bundle is served at /\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    const body = document;
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  // A bundle is small and the requests trivial: a slow or idle client gets no long hold on a socket.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.on("tlsClientError", (err) => options.log.debug({ err }, "bundle endpoint: TLS handshake failed"));

  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : options.port);
    });
  });

  const setContext = (pair: ServingKeyPair) => server.setSecureContext({ cert: pair.certificateChainPem, key: pair.privateKeyPem, minVersion: "TLSv1.2" });
  let poll: NodeJS.Timeout | undefined;
  if (options.certFiles) {
    const files = options.certFiles;
    let current = options.serving;
    poll = setInterval(() => {
      readCertFiles(files).then(
        (pair) => {
          if (pair.certificateChainPem === current.certificateChainPem && pair.privateKeyPem === current.privateKeyPem) return;
          setContext(pair);
          current = pair;
          options.log.info({ file: files.cert }, "bundle endpoint certificate reloaded");
        },
        (err: unknown) => options.log.error({ err }, "bundle endpoint certificate files unusable; keeping the current certificate"),
      );
    }, options.certFilesPollMs ?? CERT_FILE_POLL_MS);
    poll.unref();
  }

  return {
    port,
    get document() {
      return document;
    },
    setRoots: (pem) => {
      updates = updates.then(async () => {
        document = await build(pem);
      });
      return updates;
    },
    updateServing: (pair) => {
      if (!options.certFiles) setContext(pair);
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(poll);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Reads a configured certificate chain and key (https_web for a Web PKI
 * name) and checks that they belong together; errors name the files, never
 * their contents.
 */
export async function readCertFiles(files: { readonly cert: string; readonly key: string }): Promise<ServingKeyPair> {
  let certificateChainPem: string;
  let privateKeyPem: string;
  try {
    [certificateChainPem, privateKeyPem] = await Promise.all([readFile(files.cert, "utf8"), readFile(files.key, "utf8")]);
  } catch (cause) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `--bundle-endpoint-cert-file/--bundle-endpoint-key-file: cannot read ${files.cert} or ${files.key}`, { cause });
  }
  let matches: boolean;
  try {
    matches = new X509Certificate(certificateChainPem).checkPrivateKey(createPrivateKey(privateKeyPem));
  } catch (cause) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `--bundle-endpoint-cert-file ${files.cert} or --bundle-endpoint-key-file ${files.key} is not a PEM certificate and private key`, { cause });
  }
  if (!matches) throw new MeshsignError("ERR_CONFIG_INVALID", `--bundle-endpoint-key-file ${files.key} is not the key of --bundle-endpoint-cert-file ${files.cert}`);
  return { certificateChainPem, privateKeyPem };
}

/** The Certificate (and Secret) of meshsign's SVID for the https_spiffe profile. */
export const BUNDLE_ENDPOINT_CERTIFICATE = "meshsign-bundle-endpoint";
export const BUNDLE_ENDPOINT_SECRET = "meshsign-bundle-endpoint-tls";

/** meshsign's own SPIFFE ID, presented by the https_spiffe bundle endpoint. */
export function meshsignSpiffeId(trustDomain: string): string {
  return `spiffe://${trustDomain}/meshsign`;
}

export interface BundleEndpointWiring {
  readonly config: Config;
  readonly store: Store;
  readonly dataDir: string;
  readonly roots: string;
  /** meshsign's serving certificate: the https_web identity unless files are configured. */
  readonly serving: ServingCertificate;
  readonly log: Logger;
}

/**
 * Starts the endpoint `config` asks for (undefined when it is off): picks the
 * TLS identity of the profile, keeps it renewed, and keeps the sequence in
 * the data dir (standalone) or a ConfigMap shared by the replicas (Kubernetes).
 */
export async function startConfiguredBundleEndpoint(
  w: BundleEndpointWiring,
): Promise<{ endpoint: BundleEndpoint; url: string; profile: string; ready(): boolean; stop(): Promise<void> } | undefined> {
  const c = w.config;
  if (c.bundleEndpointAddress === "") return undefined;
  const i = c.bundleEndpointAddress.lastIndexOf(":");
  const host = c.bundleEndpointAddress.slice(0, i).replace(/^\[|\]$/g, "") || "0.0.0.0";
  const port = Number(c.bundleEndpointAddress.slice(i + 1));
  const sequence =
    c.mode === "kubernetes" ? new ConfigMapBundleSequence({ store: w.store, namespace: c.clusterResourceNamespace }) : new FileBundleSequence(join(w.dataDir, BUNDLE_SEQUENCE_FILE));
  const certFiles = c.bundleEndpointCertFile ? { cert: c.bundleEndpointCertFile, key: c.bundleEndpointKeyFile } : undefined;
  const svid =
    c.bundleEndpointProfile === "https_spiffe"
      ? new ServingCertificate({
          store: w.store,
          namespace: c.clusterResourceNamespace,
          certificateName: BUNDLE_ENDPOINT_CERTIFICATE,
          secretName: BUNDLE_ENDPOINT_SECRET,
          dnsNames: [],
          ipAddresses: [],
          uris: [meshsignSpiffeId(c.trustDomain)],
          durationMs: c.servingCertificateDuration,
          issuerRef: controlPlaneIssuerRef(c),
          log: w.log.child({ certificate: BUNDLE_ENDPOINT_CERTIFICATE }),
        })
      : undefined;
  const identity = svid ? await svid.start() : certFiles ? await readCertFiles(certFiles) : (w.serving.current as ServingKeyPair);
  const endpoint = await startBundleEndpoint({
    host,
    port,
    roots: w.roots,
    sequence,
    refreshHintSeconds: Math.max(1, Math.round(c.bundleEndpointRefreshHint / 1000)),
    serving: identity,
    ...(certFiles ? { certFiles } : {}),
    log: w.log,
  });
  (svid ?? w.serving).onRenew((pair) => endpoint.updateServing(pair));
  const shownHost = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  return {
    endpoint,
    url: `https://${shownHost}:${endpoint.port}`,
    profile: svid ? `https_spiffe, ${meshsignSpiffeId(c.trustDomain)}` : certFiles ? `https_web, ${certFiles.cert}` : "https_web, serving certificate",
    ready: () => (svid ? svid.valid() : true),
    stop: async () => {
      svid?.stop();
      await endpoint.close();
    },
  };
}
