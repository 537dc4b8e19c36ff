import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { DevTokenIssuer } from "../../src/authn/index.js";
import type { IssuedEvent } from "../../src/csr-service/handler.js";
import { CaIssuer } from "../../src/issuers/ca/ca-issuer.js";
import type { Issuer } from "../../src/issuers/issuer.js";
import { generateKeySync, privateKeyToPem, publicKeySpki } from "../../src/pki/keys.js";
import { type Config, loadConfig } from "../../src/server/config.js";
import { buildCsrStack, type CaMaterial, type CsrStack, rootsBundle } from "../../src/server/csr-stack.js";
import { dataDirPaths, ensureDataDir, loadOrCreateRootCa } from "../../src/server/data-dir.js";
import { GrpcFrontend, grpcLimitsOf } from "../../src/server/grpc-frontend.js";
import type { ServingKeyPair } from "../../src/server/tls/rotating-credentials.js";
import { servingTlsOptions } from "../../src/server/tls/serving-settings.js";
import { testGrpcImplementation } from "./grpc-implementation.js";
import { TempDir } from "./temp-dir.js";

/** A CreateCertificate server running in the test process, wired as `meshsign serve --workers 1` wires it. */
export interface InProcessServer {
  readonly config: Config;
  /** localhost:<port>; the serving certificate names localhost and 127.0.0.1. */
  readonly address: string;
  readonly port: number;
  readonly dataDir: string;
  /** The mesh roots every response ends with (`<data-dir>/root-cert.pem`). */
  readonly rootsPem: string;
  /** The data dir's dev token issuer (tokens the server accepts); throws when the config turns it off. */
  readonly devIssuer: DevTokenIssuer;
  /** Every log line the server wrote (JSON), to check nothing secret is logged. */
  readonly logLines: string[];
  readonly issued: IssuedEvent[];
  readonly registry: Registry;
  /** The CreateCertificate frontend and the CSR stack behind it, for rotation tests. */
  readonly frontend: GrpcFrontend;
  readonly stack: CsrStack;
  /** A new serving key pair from the mesh CA (what a renewal would bring). */
  newServingPair(): Promise<ServingKeyPair>;
  close(): Promise<void>;
}

/**
 * Starts the CSR stack on 127.0.0.1:0 with a fresh data dir. `flags` are
 * option values keyed by their camelCase name, as `meshsign serve` flags
 * (e.g. `{ maxClientCertificateDuration: "48h" }`); the environment is ignored,
 * except for the gRPC server under test (test/lib/grpc-implementation.ts).
 * The per-identity rate limit is off unless a test sets it: the suites send
 * hundreds of requests as one identity, which no workload does, and a limit
 * they drained would refuse them depending on how fast the machine runs.
 */
export async function startInProcessServer(
  flags: Record<string, unknown> = {},
  options: {
    /** Sign with an intermediate CA under the data dir's root (the mesh root stays the root). */
    intermediateCa?: boolean;
  } = {},
): Promise<InProcessServer> {
  const tmp = new TempDir("meshsign-csr-");
  const config = loadConfig({
    env: {},
    flags: {
      dataDir: tmp.path("data"),
      servingAddress: "127.0.0.1:0",
      workers: 1,
      identityRateLimit: 0,
      grpcImplementation: testGrpcImplementation(),
      ...flags,
    },
  });
  const paths = dataDirPaths(config.dataDir);
  ensureDataDir(paths);
  const root = await loadOrCreateRootCa(paths, {
    algorithm: config.caKeyAlgorithm,
    durationMs: config.caDuration,
    trustDomain: config.trustDomain,
  });
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  const log = pino({ level: "trace" }, sink);
  const registry = new Registry();
  const rootCa = {
    certificatePem: root.certificatePem,
    privateKeyPem: readFileSync(paths.rootKey, "utf8"),
    origin: `file ${paths.rootCert}`,
    rootsPem: rootsBundle(root.certificatePem, paths.rootCert),
  };
  const ca = options.intermediateCa === true ? await intermediateUnder(rootCa) : rootCa;
  const stack = await buildCsrStack(config, ca, log, registry, { dataDir: paths.dir });
  const pair = await servingPair(stack.issuer, config.servingCertificateDuration);
  const issued: IssuedEvent[] = [];
  const frontend = new GrpcFrontend(
    stack.deps((e) => issued.push(e)),
    pair,
    {
      address: config.servingAddress,
      requestClientCertificate: config.enableClientCertAuthenticator,
      clientCaPem: stack.roots(),
      log,
      limits: grpcLimitsOf(config),
      implementation: config.grpcImplementation,
      ...(stack.clientChains ? { clientChains: stack.clientChains } : {}),
      tls: servingTlsOptions(config),
    },
  );
  const port = await frontend.start();
  return {
    config,
    address: `localhost:${port}`,
    port,
    dataDir: paths.dir,
    rootsPem: ca.rootsPem,
    get devIssuer(): DevTokenIssuer {
      return DevTokenIssuer.loadOrCreate(paths.dir, { enabled: config.devTokenIssuer });
    },
    logLines,
    issued,
    registry,
    frontend,
    stack,
    newServingPair: () => servingPair(stack.issuer, config.servingCertificateDuration),
    close: async () => {
      await frontend.shutdown(2000);
      await stack.close();
      tmp.remove();
    },
  };
}

/**
 * A TLS serving key pair for localhost/127.0.0.1 signed by the mesh CA. (meshsign keeps its own
 * through the Certificate engine; the CSR service only needs some pair the clients trust.)
 */
async function servingPair(issuer: Issuer, durationMs: number): Promise<ServingKeyPair> {
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const now = Date.now();
  const result = await issuer.sign({
    requestId: "test-serving",
    csrPem: "",
    template: {
      publicKeySpki: publicKeySpki(key),
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
      isCA: false,
      keyUsage: ["digitalSignature"],
      extKeyUsage: ["serverAuth"],
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + durationMs),
    },
  });
  if (result.status !== "issued")
    throw new Error(`the test CA did not issue a serving certificate: ${result.message}`);
  return { certificateChainPem: result.chain.join(""), privateKeyPem: privateKeyToPem(key) };
}

/** An intermediate CA (ECDSA P-256, 1 day) signed by `root`; its PEM is the intermediate then the root. */
async function intermediateUnder(root: CaMaterial): Promise<CaMaterial> {
  const signer = await CaIssuer.create(root);
  const key = generateKeySync({ type: "ec", curve: "P-256" });
  const now = Date.now();
  const result = await signer.sign({
    requestId: "test-intermediate",
    csrPem: "",
    template: {
      publicKeySpki: publicKeySpki(key),
      subject: [[{ type: "2.5.4.3", value: "meshsign test intermediate" }]],
      isCA: true,
      keyUsage: ["digitalSignature", "keyCertSign", "cRLSign"],
      extKeyUsage: [],
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
    },
  });
  if (result.status !== "issued") throw new Error("the root did not sign the intermediate");
  return {
    certificatePem: [...result.chain, root.certificatePem].join(""),
    privateKeyPem: privateKeyToPem(key),
    origin: "test intermediate",
    rootsPem: root.rootsPem,
  };
}
