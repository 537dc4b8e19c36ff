/**
 * The four Route53 calls the provider makes, over the AWS SDK, with every
 * failure mapped by {@link toDns01Error}. The provider is written against
 * {@link Route53Api} so its logic is tested in memory too.
 */
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  type Route53Client,
} from "@aws-sdk/client-route-53";
import { toDns01Error } from "./errors.js";
import { canonicalName, type HostedZoneSummary } from "./zone.js";

export interface HostedZonePage {
  readonly zones: readonly HostedZoneSummary[];
  /** Where the next page starts, when the answer was truncated. */
  readonly next?: { readonly dnsName: string; readonly zoneId: string };
}

export interface TxtRecordSet {
  readonly ttl: number;
  /** Route53's raw values (quoted character-strings). */
  readonly values: readonly string[];
}

export type ChangeStatus = "PENDING" | "INSYNC";

export interface Route53Api {
  listHostedZonesByName(
    dnsName: string,
    start: { readonly zoneId: string } | undefined,
    signal?: AbortSignal,
  ): Promise<HostedZonePage>;
  /** The TXT record set at `fqdn`, or undefined when there is none. */
  getTxtRecordSet(zoneId: string, fqdn: string, signal?: AbortSignal): Promise<TxtRecordSet | undefined>;
  changeTxtRecordSet(
    zoneId: string,
    action: "UPSERT" | "DELETE",
    fqdn: string,
    set: TxtRecordSet,
    signal?: AbortSignal,
  ): Promise<{ readonly changeId: string; readonly status: ChangeStatus }>;
  getChange(changeId: string, signal?: AbortSignal): Promise<ChangeStatus>;
}

function status(value: string | undefined): ChangeStatus {
  return value === "INSYNC" ? "INSYNC" : "PENDING";
}

/** A {@link Route53Api} over an SDK client. */
export function sdkRoute53Api(client: Route53Client): Route53Api {
  async function call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw toDns01Error(err, `Route53 ${operation}`);
    }
  }
  return {
    listHostedZonesByName: (dnsName, start, signal) =>
      call("ListHostedZonesByName", async () => {
        const out = await client.send(
          new ListHostedZonesByNameCommand({
            DNSName: dnsName,
            ...(start !== undefined ? { HostedZoneId: start.zoneId } : {}),
          }),
          { abortSignal: signal },
        );
        const zones = (out.HostedZones ?? []).map((z) => ({
          id: z.Id ?? "",
          name: z.Name ?? "",
          privateZone: z.Config?.PrivateZone === true,
        }));
        const truncated =
          out.IsTruncated === true && out.NextDNSName !== undefined && out.NextHostedZoneId !== undefined;
        return truncated
          ? { zones, next: { dnsName: out.NextDNSName ?? "", zoneId: out.NextHostedZoneId ?? "" } }
          : { zones };
      }),
    getTxtRecordSet: (zoneId, fqdn, signal) =>
      call("ListResourceRecordSets", async () => {
        const out = await client.send(
          new ListResourceRecordSetsCommand({
            HostedZoneId: zoneId,
            StartRecordName: fqdn,
            StartRecordType: "TXT",
            MaxItems: 1,
          }),
          { abortSignal: signal },
        );
        const set = out.ResourceRecordSets?.[0];
        // The listing starts at the name; the first set may belong to the next name.
        if (
          set === undefined ||
          set.Type !== "TXT" ||
          canonicalName(set.Name ?? "") !== canonicalName(fqdn)
        ) {
          return undefined;
        }
        return {
          ttl: set.TTL ?? 0,
          values: (set.ResourceRecords ?? []).map((r) => r.Value ?? "").filter((v) => v !== ""),
        };
      }),
    changeTxtRecordSet: (zoneId, action, fqdn, set, signal) =>
      call("ChangeResourceRecordSets", async () => {
        const out = await client.send(
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: zoneId,
            ChangeBatch: {
              Comment: "Managed by meshsign (ACME DNS-01)",
              Changes: [
                {
                  Action: action,
                  ResourceRecordSet: {
                    Name: fqdn,
                    Type: "TXT",
                    TTL: set.ttl,
                    ResourceRecords: set.values.map((Value) => ({ Value })),
                  },
                },
              ],
            },
          }),
          { abortSignal: signal },
        );
        return { changeId: out.ChangeInfo?.Id ?? "", status: status(out.ChangeInfo?.Status) };
      }),
    getChange: (changeId, signal) =>
      call("GetChange", async () => {
        const out = await client.send(new GetChangeCommand({ Id: changeId }), { abortSignal: signal });
        return status(out.ChangeInfo?.Status);
      }),
  };
}
