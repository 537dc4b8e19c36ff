import { MeshsignError } from "../../errors/index.js";

/** Parses a JSON object body from the CA; a protocol error names `what` otherwise. */
export function readJson(body: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new MeshsignError("ERR_ACME_PROTOCOL", `${what}: the body is not JSON`, { cause: err });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new MeshsignError("ERR_ACME_PROTOCOL", `${what}: the body is not a JSON object`);
  return v as Record<string, unknown>;
}

/** The first value of a header. */
export function header(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
