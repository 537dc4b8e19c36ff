import { describe, expect, it } from "vitest";
import { createLogger, flatLineLogger } from "../../src/server/logger.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = {
    write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
  };
  const log = createLogger({ level: "info", format: "json", destination });
  return { log, lines };
}

const AUDIT_LINE = {
  identity: "spiffe://cluster.local/ns/default/sa/demo",
  serial: "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
  notAfter: "2026-12-08T10:00:00.000Z",
  keyAlgorithm: "rsa-2048",
  authenticator: "jwks",
  peer: "127.0.0.1:40000",
  count: 3,
};

describe("the logger", () => {
  it("censors credentials at the top level and one level down", () => {
    const { log, lines } = capture();
    log.info({ token: "t", detail: { csr: "c", reason: "r" }, headers: { authorization: "a" } }, "x");
    expect(lines[0]).toMatchObject({
      token: "[redacted]",
      detail: { csr: "[redacted]", reason: "r" },
      headers: { authorization: "[redacted]" },
    });
  });
});

describe("a flat-line logger", () => {
  it("writes a line of string and number fields exactly as its parent does", () => {
    const { log, lines } = capture();
    log.info(AUDIT_LINE, "certificate issued");
    flatLineLogger(log).info(AUDIT_LINE, "certificate issued");
    const [parent, flat] = lines.map(({ time: _, ...rest }) => rest);
    expect(flat).toEqual(parent);
    expect(flat).toMatchObject(AUDIT_LINE);
  });

  it("still censors a credential passed at the top level by mistake", () => {
    const { log, lines } = capture();
    flatLineLogger(log).info({ ...AUDIT_LINE, token: "secret", csrPem: "pem" }, "certificate issued");
    expect(lines[0]).toMatchObject({ token: "[redacted]", csrPem: "[redacted]" });
    expect(JSON.stringify(lines[0])).not.toContain("secret");
  });
});
