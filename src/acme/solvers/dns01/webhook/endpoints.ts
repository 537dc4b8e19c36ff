/**
 * Standalone webhook endpoints: without a Kubernetes API server to route
 * through, meshsign reaches each webhook API group at a configured URL, named
 * in the file given to `--dns01-webhook-config`:
 *
 * ```yaml
 * webhooks:
 *   - groupName: acme.example.com        # the solver's dns01.webhook.groupName
 *     url: https://alidns-webhook.internal:8443
 *     caFile: /etc/meshsign/alidns-webhook-ca.pem   # verifies the webhook's serving certificate
 *     tokenFile: /etc/meshsign/alidns-webhook.token # optional bearer token, re-read on every call
 * ```
 *
 * The file is read and checked once at start-up; an error names the file,
 * the entry and the key. TLS is always verified against `caFile` (no skip-verify switch: a
 * webhook that writes DNS records is worth a CA file).
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { MeshsignError } from "../../../../errors/index.js";
import { GROUP_NAME_PATTERN } from "./names.js";

/** One webhook API group reachable at a URL. */
export interface WebhookEndpoint {
  /** The API group the webhook serves, as in `dns01.webhook.groupName`. */
  readonly groupName: string;
  /** https origin (and optional path prefix) of the webhook's API server. */
  readonly url: URL;
  /** PEM certificates trusted for the webhook's serving certificate. */
  readonly caPem: string;
  /** File holding a bearer token sent to the webhook; re-read on every call so a rotated token applies. */
  readonly tokenFile?: string | undefined;
}

const entrySchema = z.strictObject({
  groupName: z.string().regex(GROUP_NAME_PATTERN, "must be a DNS subdomain, e.g. acme.example.com"),
  url: z
    .string()
    .url("must be a URL")
    .refine((u) => new URL(u).protocol === "https:", "must be an https URL")
    .refine((u) => new URL(u).search === "" && new URL(u).hash === "", "must have no query or fragment"),
  caFile: z.string().min(1, "is required"),
  tokenFile: z.string().min(1).optional(),
});

const fileSchema = z.strictObject({ webhooks: z.array(entrySchema).min(1, "lists no webhooks") });

/** Reads and validates the endpoints file; throws ERR_CONFIG_INVALID naming the bad entry and key. */
export function loadWebhookEndpoints(
  file: string,
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
): WebhookEndpoint[] {
  const where = file;
  let text: string;
  try {
    text = readFile(file);
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${where}: cannot read the file`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new MeshsignError("ERR_CONFIG_INVALID", `${where}: not valid YAML`, { cause: err });
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("") ?? "";
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      `${where}: ${path.replace(/^\./, "") || "(file)"}: ${issue?.message ?? "invalid"}`,
    );
  }
  const seen = new Set<string>();
  return parsed.data.webhooks.map((entry, i) => {
    const at = `${where}: webhooks[${i}]`;
    if (seen.has(entry.groupName))
      throw new MeshsignError("ERR_CONFIG_INVALID", `${at}.groupName: ${entry.groupName} is listed twice`);
    seen.add(entry.groupName);
    let caPem: string;
    try {
      caPem = readFile(entry.caFile);
    } catch (err) {
      throw new MeshsignError("ERR_CONFIG_INVALID", `${at}.caFile: cannot read ${entry.caFile}`, {
        cause: err,
      });
    }
    if (!caPem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new MeshsignError("ERR_CONFIG_INVALID", `${at}.caFile: ${entry.caFile} holds no PEM certificate`);
    }
    if (entry.tokenFile !== undefined) {
      let token: string;
      try {
        token = readFile(entry.tokenFile);
      } catch (err) {
        throw new MeshsignError("ERR_CONFIG_INVALID", `${at}.tokenFile: cannot read ${entry.tokenFile}`, {
          cause: err,
        });
      }
      if (token.trim() === "")
        throw new MeshsignError("ERR_CONFIG_INVALID", `${at}.tokenFile: ${entry.tokenFile} is empty`);
    }
    return { groupName: entry.groupName, url: new URL(entry.url), caPem, tokenFile: entry.tokenFile };
  });
}
