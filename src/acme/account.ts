/**
 * ACME accounts (RFC 8555 §7.3): registration with terms-of-service agreement,
 * contact email and optional External Account Binding; lookup of the account
 * that owns the key (`onlyReturnExisting`); contact update. Each sets
 * `client.accountUrl`, which every later request is signed with (`kid`).
 */
import { MeshsignError } from "../errors/index.js";
import type { AcmeClient } from "./client.js";
import { externalAccountBinding } from "./jws.js";
import { readJson } from "./lib/json.js";
import { problemOf, shortType } from "./problems.js";

export interface AcmeAccount {
  /** The account URL (cert-manager's `status.acme.uri`). */
  readonly url: string;
  readonly status: "valid" | "deactivated" | "revoked";
  readonly contact: readonly string[];
}

export interface RegisterOptions {
  /** Registered as `mailto:<lower-cased email>`, as cert-manager does. */
  readonly email?: string;
  /** The CA-issued key id and un-padded base64url HMAC key (HS256). */
  readonly externalAccountBinding?: { readonly keyId: string; readonly hmacKey: string };
}

// One address, no list separators or URL syntax: it becomes a mailto: URI.
const EMAIL = /^[^\s@,;:/?#<>"]+@[A-Za-z0-9.-]+$/;

function contactFor(email: string | undefined): string[] {
  if (email === undefined || email === "") return [];
  if (!EMAIL.test(email) || email.length > 254)
    throw new MeshsignError("ERR_CONFIG_INVALID", "the ACME account email is not a single email address");
  return [`mailto:${email.toLowerCase()}`];
}

function accountFrom(body: Record<string, unknown>, url: string): AcmeAccount {
  const status = body.status;
  if (status !== "valid" && status !== "deactivated" && status !== "revoked")
    throw new MeshsignError("ERR_ACME_PROTOCOL", "ACME account object has no valid status");
  const contact = Array.isArray(body.contact)
    ? body.contact.filter((c): c is string => typeof c === "string")
    : [];
  return { url, status, contact };
}

/**
 * Creates the account for the client's key, agreeing to the terms of
 * service; an existing account for the key is returned as is (RFC 8555
 * §7.3.1 answers 200 with its URL).
 */
export async function registerAccount(
  client: AcmeClient,
  options: RegisterOptions = {},
): Promise<AcmeAccount> {
  const url = client.directory.newAccount;
  if (client.directory.meta.externalAccountRequired && options.externalAccountBinding === undefined)
    throw new MeshsignError(
      "ERR_CONFIG_INVALID",
      "the ACME server requires an External Account Binding (externalAccountBinding) and none is configured",
    );
  const payload: Record<string, unknown> = { termsOfServiceAgreed: true, contact: contactFor(options.email) };
  if (options.externalAccountBinding !== undefined) {
    payload.externalAccountBinding = await externalAccountBinding({
      accountKey: client.accountKey,
      keyId: options.externalAccountBinding.keyId,
      hmacKey: options.externalAccountBinding.hmacKey,
      url,
    });
  }
  const res = await client.post(url, payload, "newAccount", { useJwk: true });
  if (res.location === undefined)
    throw new MeshsignError("ERR_ACME_PROTOCOL", "newAccount answered without a Location");
  const account = accountFrom(readJson(res.body, "ACME newAccount"), res.location);
  client.accountUrl = account.url;
  return account;
}

/** The account that owns the client's key, or undefined when there is none. */
export async function findAccount(client: AcmeClient): Promise<AcmeAccount | undefined> {
  try {
    const res = await client.post(
      client.directory.newAccount,
      { onlyReturnExisting: true },
      "newAccount (onlyReturnExisting)",
      { useJwk: true },
    );
    if (res.location === undefined)
      throw new MeshsignError("ERR_ACME_PROTOCOL", "newAccount answered without a Location");
    const account = accountFrom(readJson(res.body, "ACME account lookup"), res.location);
    client.accountUrl = account.url;
    return account;
  } catch (err) {
    const problem = problemOf(err);
    if (problem !== undefined && shortType(problem.type) === "accountDoesNotExist") return undefined;
    throw err;
  }
}

/** Replaces the account's contact with `email` (none when undefined). */
export async function updateAccountEmail(
  client: AcmeClient,
  email: string | undefined,
): Promise<AcmeAccount> {
  const url = client.accountUrl;
  if (url === undefined)
    throw new MeshsignError("ERR_ACME_PROTOCOL", "no ACME account to update: register first");
  const res = await client.post(url, { contact: contactFor(email) }, "account update");
  return accountFrom(readJson(res.body, "ACME account update"), url);
}
