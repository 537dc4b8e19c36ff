import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DevTokenIssuer } from "../../src/authn/index.js";
import { IstioCaClient } from "../../src/csr-service/client.js";
import { buildCsr, generateKeySync, privateKeyToPem } from "../../src/pki/keys.js";
import { GRPC_IMPLEMENTATIONS } from "../../src/server/config.js";
import { harnessEnv } from "../kube/harness.js";
import { requestSvid } from "../kube/lib/istio-client.js";
import { type Banner, ServeProcess } from "../lib/meshsign-process.js";
import { issueIntermediate, makeCa, type PemFiles } from "../lib/openssl-ca.js";
import { TempDir } from "../lib/temp-dir.js";

/*
 * CreateCertificate through the gRPC clients meshsign's users run, against
 * each of meshsign's gRPC servers (`--grpc-implementation`): Istio's own CA
 * client (the Go code istio-agent runs, test/kube/istio-client), grpc-js
 * (meshsign's own client), and Python's grpcio (create_certificate.py, its
 * stub generated from the repository's proto). Each gets a certificate, and a
 * refusal arrives as the status code and message the server sent.
 */

const SPIFFE_ID = "spiffe://cluster.local/ns/default/sa/demo";

interface PythonAnswer {
  readonly ok: boolean;
  readonly certChain?: string[];
  readonly code?: string;
  readonly details?: string;
}

function python(args: readonly string[]): Promise<PythonAnswer> {
  const bin = process.env.MESHSIGN_GRPCIO_PYTHON ?? harnessEnv().MESHSIGN_GRPCIO_PYTHON;
  if (!bin) throw new Error("grpcio is not installed: run bash test/grpc-clients/setup.sh");
  const script = path.join(import.meta.dirname, "create_certificate.py");
  return new Promise((resolve, reject) => {
    execFile(bin, [script, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`create_certificate.py failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "") as PythonAnswer);
    });
  });
}

describe.each(GRPC_IMPLEMENTATIONS)("meshsign serve --grpc-implementation %s", (implementation) => {
  const tmp = new TempDir(`meshsign-grpc-clients-${implementation}-`);
  const cwd = tmp.path("project");
  let server: ServeProcess;
  let banner: Banner;
  let address: string;
  let token: string;
  let tokenFile: string;
  let csrFile: string;

  beforeAll(async () => {
    mkdirSync(cwd);
    server = ServeProcess.start(["--workers", "1", "--grpc-implementation", implementation], { cwd });
    banner = await server.banner(120_000);
    address = `127.0.0.1:${banner.grpcPort}`;
    token = await DevTokenIssuer.loadOrCreate(path.join(cwd, ".meshsign"), { enabled: true }).mintToken({
      namespace: "default",
      serviceAccount: "demo",
    });
    tokenFile = tmp.path("token");
    writeFileSync(tokenFile, token);
    csrFile = tmp.path("csr.pem");
    writeFileSync(csrFile, buildCsr(generateKeySync({ type: "ec", curve: "P-256" }), { uris: [SPIFFE_ID] }));
  });

  afterAll(async () => {
    await server?.stop("SIGKILL");
    tmp.remove();
  });

  const rootsPem = (): string => readFileSync(banner.rootCert, "utf8");
  const endsWithRoot = (chain: readonly string[]): void => {
    expect(chain.length).toBeGreaterThanOrEqual(2);
    expect(chain.at(-1)).toBe(rootsPem());
    expect(new X509Certificate(chain[0] as string).subjectAltName).toBe(`URI:${SPIFFE_ID}`);
  };

  it("gives Istio's own CA client an SVID for its service account", async () => {
    for (const keyType of ["ec256", "rsa2048"] as const) {
      const res = await requestSvid({
        address,
        rootCertFile: banner.rootCert,
        tokenFile,
        namespace: "default",
        serviceAccount: "demo",
        keyType,
      });
      if (!res.ok) throw new Error(`refused: ${res.code} ${res.error}`);
      expect(res.identity).toBe(SPIFFE_ID);
      endsWithRoot(res.certChain);
    }
  });

  it("refuses Istio's CA client a service account its token does not name, Unauthenticated", async () => {
    const res = await requestSvid({
      address,
      rootCertFile: banner.rootCert,
      tokenFile,
      namespace: "default",
      serviceAccount: "other",
    });
    expect(res).toMatchObject({ ok: false, code: "Unauthenticated" });
  });

  it("answers grpc-js, and refuses it without a token UNAUTHENTICATED with a message that names the rule", async () => {
    const client = new IstioCaClient({ address, rootsPem: rootsPem(), serverName: "localhost" });
    try {
      endsWithRoot(await client.createCertificate({ csr: readFileSync(csrFile, "utf8"), token }));
      const err = (await client
        .createCertificate({ csr: readFileSync(csrFile, "utf8") })
        .catch((e: unknown) => e)) as ServiceError;
      expect(err.code).toBe(status.UNAUTHENTICATED);
      expect(err.details).toMatch(/token/i);
    } finally {
      client.close();
    }
  });

  it("answers Python's grpcio", async () => {
    const res = await python([
      "--address",
      address,
      "--root-cert",
      banner.rootCert,
      "--token",
      token,
      "--csr-file",
      csrFile,
    ]);
    expect(res.ok).toBe(true);
    endsWithRoot(res.certChain ?? []);
  });

  it("refuses Python's grpcio without a token UNAUTHENTICATED, and an unknown method UNIMPLEMENTED", async () => {
    const common = ["--address", address, "--root-cert", banner.rootCert, "--csr-file", csrFile];
    const noToken = await python(common);
    expect(noToken).toMatchObject({ ok: false, code: "UNAUTHENTICATED" });
    expect(noToken.details).toMatch(/token/i);
    const unknown = await python([
      ...common,
      "--token",
      token,
      "--method",
      "/istio.v1.auth.IstioCertificateService/Nope",
    ]);
    expect(unknown).toMatchObject({ ok: false, code: "UNIMPLEMENTED" });
  });
});

describe.each(GRPC_IMPLEMENTATIONS)(
  "renewal over mTLS with Istio's own CA client, meshsign signing through an intermediate CA (--grpc-implementation %s)",
  (implementation) => {
    const tmp = new TempDir(`meshsign-grpc-mtls-${implementation}-`);
    const cwd = tmp.path("project");
    let server: ServeProcess;
    let address: string;
    let root: PemFiles;
    let first: { leaf: string; intermediate: string; keyFile: string };

    beforeAll(async () => {
      // The mesh root and an intermediate under it; meshsign holds only the intermediate's key.
      root = makeCa(tmp.dir, "mesh-root");
      const intermediate = issueIntermediate(tmp.dir, root, "mesh-intermediate");
      mkdirSync(path.join(cwd, ".meshsign"), { recursive: true });
      copyFileSync(intermediate.certFile, path.join(cwd, ".meshsign", "root-cert.pem"));
      copyFileSync(intermediate.keyFile, path.join(cwd, ".meshsign", "root-key.pem"));
      chmodSync(path.join(cwd, ".meshsign", "root-key.pem"), 0o600);
      server = ServeProcess.start(
        [
          "--workers",
          "1",
          "--grpc-implementation",
          implementation,
          "--enable-client-cert-authenticator",
          "--root-ca-file",
          root.certFile,
        ],
        { cwd },
      );
      const banner = await server.banner(120_000);
      address = `127.0.0.1:${banner.grpcPort}`;
      // The workload's first certificate, with its token.
      const key = generateKeySync({ type: "ec", curve: "P-256" });
      const client = new IstioCaClient({
        address,
        rootsPem: readFileSync(root.certFile, "utf8"),
        serverName: "localhost",
      });
      try {
        const token = await DevTokenIssuer.loadOrCreate(path.join(cwd, ".meshsign"), {
          enabled: true,
        }).mintToken({
          namespace: "default",
          serviceAccount: "demo",
        });
        const chain = await client.createCertificate({ csr: buildCsr(key, { uris: [SPIFFE_ID] }), token });
        expect(chain).toHaveLength(3);
        const keyFile = tmp.write("key.pem", privateKeyToPem(key));
        first = { leaf: chain[0] as string, intermediate: chain[1] as string, keyFile };
      } finally {
        client.close();
      }
    });

    afterAll(async () => {
      await server?.stop("SIGKILL");
      tmp.remove();
    });

    /** Istio's CA client asking for demo's certificate with no token, presenting `chainPem` and the first key. */
    const renewWith = (file: string, chainPem: string) =>
      requestSvid({
        address,
        rootCertFile: root.certFile,
        tokenFile: "",
        namespace: "default",
        serviceAccount: "demo",
        clientCertificate: { certChainFile: tmp.write(file, chainPem), keyFile: first.keyFile },
      });

    it("renews with the certificate chain istio-agent keeps (leaf and intermediate), no token", async () => {
      const res = await renewWith("cert-chain.pem", first.leaf + first.intermediate);
      if (!res.ok) throw new Error(`refused: ${res.code} ${res.error}`);
      expect(res.identity).toBe(SPIFFE_ID);
      expect(new X509Certificate(res.certChain[0] as string).subjectAltName).toBe(`URI:${SPIFFE_ID}`);
      expect(res.certChain.at(-1)).toBe(readFileSync(root.certFile, "utf8"));
    });

    it("refuses the leaf sent without its intermediate (no path to the root), Unauthenticated", async () => {
      expect(await renewWith("leaf-only.pem", first.leaf)).toMatchObject({ ok: false, code: "Unauthenticated" });
    });
  },
);
