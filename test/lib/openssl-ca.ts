/**
 * Throw-away X.509 material for test servers, made by the openssl CLI into a
 * directory: a CA, and leaves it signs for serving (DNS/IP SANs) or for a
 * client (a CN, as Kubernetes' front proxy and request-header auth use).
 * ECDSA P-256, valid for a day.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";

export interface PemFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** A new ECDSA P-256 key, unencrypted. */
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

function run(args: readonly string[]): void {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr || r.stdout}`);
}

/** A self-signed CA `<name>-ca.crt` / `<name>-ca.key` in `dir`. */
export function makeCa(dir: string, name: string): PemFiles {
  const certFile = path.join(dir, `${name}-ca.crt`);
  const keyFile = path.join(dir, `${name}-ca.key`);
  const subject = ["-subj", `/CN=${name}-ca`, "-days", "1"];
  const ca = [
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ];
  run(["req", "-x509", ...NEW_KEY, "-keyout", keyFile, "-out", certFile, ...subject, ...ca]);
  return { certFile, keyFile };
}

/**
 * A leaf `<name>.crt` / `<name>.key` signed by `ca`: with `dns`/`ips` a
 * serving certificate for those names, else a client certificate for CN `name`.
 */
export function issueLeaf(
  dir: string,
  ca: PemFiles,
  name: string,
  sans: { readonly dns?: readonly string[]; readonly ips?: readonly string[] } = {},
): PemFiles {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const csrFile = path.join(dir, `${name}.csr`);
  const extFile = path.join(dir, `${name}.ext`);
  const altNames = [...(sans.dns ?? []).map((d) => `DNS:${d}`), ...(sans.ips ?? []).map((ip) => `IP:${ip}`)];
  const ext = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature"];
  if (altNames.length > 0) ext.push("extendedKeyUsage=serverAuth", `subjectAltName=${altNames.join(",")}`);
  else ext.push("extendedKeyUsage=clientAuth");
  writeFileSync(extFile, `${ext.join("\n")}\n`);
  run(["req", "-new", ...NEW_KEY, "-keyout", keyFile, "-out", csrFile, "-subj", `/CN=${name}`]);
  const signer = ["-CA", ca.certFile, "-CAkey", ca.keyFile, "-CAcreateserial"];
  run(["x509", "-req", "-in", csrFile, ...signer, "-out", certFile, "-days", "1", "-extfile", extFile]);
  return { certFile, keyFile };
}

/** An intermediate CA `<name>-ca.crt` / `<name>-ca.key` in `dir`, signed by `ca`. */
export function issueIntermediate(dir: string, ca: PemFiles, name: string): PemFiles {
  const certFile = path.join(dir, `${name}-ca.crt`);
  const keyFile = path.join(dir, `${name}-ca.key`);
  const csrFile = path.join(dir, `${name}-ca.csr`);
  const extFile = path.join(dir, `${name}-ca.ext`);
  writeFileSync(extFile, "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
  run(["req", "-new", ...NEW_KEY, "-keyout", keyFile, "-out", csrFile, "-subj", `/CN=${name}-ca`]);
  const signer = ["-CA", ca.certFile, "-CAkey", ca.keyFile, "-CAcreateserial"];
  run(["x509", "-req", "-in", csrFile, ...signer, "-out", certFile, "-days", "1", "-extfile", extFile]);
  return { certFile, keyFile };
}
