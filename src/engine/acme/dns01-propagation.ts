/**
 * The Challenge controller's {@link Dns01Propagation} on the real DNS checks
 * of src/acme/solvers/dns01/propagation.ts. A solver's own `nameservers`
 * become the recursive resolvers, asked alone (cert-manager: per-solver
 * nameservers disable the authoritative check).
 */
import {
  checkPropagation,
  type PropagationOptions,
  resolveChallengeRecord,
} from "../../acme/solvers/dns01/index.js";
import type { Dns01Propagation } from "./challenge-controller.js";

export function dnsPropagation(base: PropagationOptions = {}): Dns01Propagation {
  return {
    resolveChallengeRecord: (dnsName, o) =>
      resolveChallengeRecord(dnsName, {
        ...base,
        ...(o.nameservers !== undefined && o.nameservers.length > 0
          ? { recursiveNameservers: o.nameservers }
          : {}),
        ...(o.cnameStrategy !== undefined ? { cnameStrategy: o.cnameStrategy } : {}),
      }),
    checkPropagation: (record, o) =>
      checkPropagation(record, {
        ...base,
        ...(o.nameservers !== undefined && o.nameservers.length > 0
          ? { recursiveNameservers: o.nameservers, recursiveOnly: true }
          : {}),
      }),
  };
}
