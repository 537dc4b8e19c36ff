/**
 * A grpc-js server over TLS for the ceiling cases, shaped like `meshsign
 * serve`: a cluster primary whose `ECHO_WORKERS` workers share one listening
 * socket (or the primary itself when there is one worker). `ECHO_MODE=empty`
 * (default) answers {@link EMPTY_SERVICE} and does nothing else; `floor`
 * answers Istio's CreateCertificate with {@link floorHandler}, the least a
 * CreateCertificate server must do, against the tokens of the JWKS file
 * `FLOOR_JWKS`, with the serving certificate (a self-signed CA) as the CA.
 * Prints `listening <port>` when every worker is bound; SIGTERM stops it.
 */
import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { istioCertificateServiceDefinition } from "../../src/csr-service/service-definition.js";
import { decodePemAll, privateKeyFromPem } from "../../src/pki/index.js";
import { EMPTY_SERVICE } from "./echo-service.js";
import { floorHandler } from "./floor-handler.js";

const workers = Number(process.env.ECHO_WORKERS ?? "1");
const mode = process.env.ECHO_MODE ?? "empty";
const certPem = process.env.ECHO_CERT_PEM ?? "";
const keyPem = process.env.ECHO_KEY_PEM ?? "";

function serve(): Promise<number> {
  const server = new Server({ "grpc.max_receive_message_length": 1 << 20, "grpc.enable_channelz": 0 });
  if (mode === "floor") {
    const handler = floorHandler({
      jwks: JSON.parse(readFileSync(process.env.FLOOR_JWKS ?? "", "utf8")),
      caDer: decodePemAll(certPem, "CERTIFICATE")[0] as Uint8Array,
      caKey: privateKeyFromPem(keyPem),
    });
    server.addService(istioCertificateServiceDefinition, { CreateCertificate: handler });
  } else {
    server.addService(EMPTY_SERVICE, {
      Empty: (_call: unknown, cb: (e: null, r: Buffer) => void) => cb(null, Buffer.alloc(0)),
    });
  }
  const creds = ServerCredentials.createSsl(
    null,
    [{ private_key: Buffer.from(keyPem), cert_chain: Buffer.from(certPem) }],
    false,
  );
  process.on("SIGTERM", () => server.forceShutdown());
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", creds, (err, port) => (err ? reject(err) : resolve(port))),
  );
}

if (workers <= 1) {
  const port = await serve();
  process.stdout.write(`listening ${port}\n`);
  process.on("SIGTERM", () => process.exit(0));
} else if (cluster.isPrimary) {
  let ready = 0;
  let port = 0;
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    w.on("message", (m: { port: number }) => {
      port = m.port;
      if (++ready === workers) process.stdout.write(`listening ${port}\n`);
    });
  }
  process.on("SIGTERM", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill("SIGTERM");
    setTimeout(() => process.exit(0), 200);
  });
} else {
  const port = await serve();
  process.send?.({ port });
  process.on("disconnect", () => process.exit(0));
  process.on("SIGTERM", () => process.exit(0));
}
