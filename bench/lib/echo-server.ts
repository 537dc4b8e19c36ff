/**
 * A grpc-js server over TLS that answers {@link EMPTY_SERVICE} and does
 * nothing else, shaped like `meshsign serve`: a cluster primary whose
 * `ECHO_WORKERS` workers share one listening socket (or the primary itself
 * when there is one worker). Prints `listening <port>` when every worker is
 * bound; SIGTERM stops it. Run as a child process by the grpc-ceiling case.
 */
import cluster from "node:cluster";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { EMPTY_SERVICE } from "./echo-service.js";

const workers = Number(process.env.ECHO_WORKERS ?? "1");
const certPem = process.env.ECHO_CERT_PEM ?? "";
const keyPem = process.env.ECHO_KEY_PEM ?? "";

function serve(): Promise<number> {
  const server = new Server({ "grpc.max_receive_message_length": 1 << 20, "grpc.enable_channelz": 0 });
  server.addService(EMPTY_SERVICE, {
    Empty: (_call: unknown, cb: (e: null, r: Buffer) => void) => cb(null, Buffer.alloc(0)),
  });
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
