import { describe, expect, it } from "vitest";
import { type SelectSolverInput, selectSolver } from "../../src/acme/index.js";
import type { AcmeSolver } from "../../src/api/types.js";

// Builders: one solver per line in the tables below, told apart by the ingress class / webhook name.
type Selector = NonNullable<AcmeSolver["selector"]>;
const http = (id: string, selector?: Selector): AcmeSolver => ({
  http01: { ingress: { ingressClassName: id } },
  ...(selector === undefined ? {} : { selector }),
});
const dns = (id: string, selector?: Selector): AcmeSolver => ({
  dns01: { webhook: { groupName: "acme.example.com", solverName: id } },
  ...(selector === undefined ? {} : { selector }),
});

const input = (over: Partial<SelectSolverInput> = {}): SelectSolverInput => ({
  dnsName: "app.sys.example.com",
  wildcard: false,
  offeredTypes: ["http-01", "dns-01"],
  certificateLabels: {},
  ...over,
});

interface Case {
  readonly solvers: readonly AcmeSolver[];
  readonly input?: Partial<SelectSolverInput>;
  /** Index of the expected solver, or undefined when none must match. */
  readonly want: number | undefined;
}

const cases: Record<string, Case> = {
  "a single solver without a selector is used for any name": { solvers: [http("a")], want: 0 },
  "a solver of a type the CA does not offer is skipped": {
    solvers: [dns("a"), http("b")],
    input: { offeredTypes: ["http-01"] },
    want: 1,
  },
  "the first solver without a selector wins among several": { solvers: [http("a"), http("b")], want: 0 },
  "a solver without a selector never displaces one already selected": {
    solvers: [http("a", { dnsZones: ["example.com"] }), http("b")],
    want: 0,
  },
  "an empty selector matches with no weight and does not displace an earlier nil selector": {
    solvers: [http("a"), http("b", {})],
    want: 0,
  },
  "an empty selector selected first is kept against a later nil selector": {
    solvers: [http("a", {}), http("b")],
    want: 0,
  },
  "any matching selector displaces an earlier nil selector when it has weight": {
    solvers: [http("a"), http("b", { matchLabels: { team: "web" } })],
    input: { certificateLabels: { team: "web" } },
    want: 1,
  },
  "a dnsNames match beats a longer dnsZones match": {
    solvers: [http("a", { dnsZones: ["sys.example.com"] }), http("b", { dnsNames: ["app.sys.example.com"] })],
    want: 1,
  },
  "a dnsNames match beats more matchLabels": {
    solvers: [
      http("a", { matchLabels: { team: "web", tier: "edge" } }),
      http("b", { dnsNames: ["app.sys.example.com"] }),
    ],
    input: { certificateLabels: { team: "web", tier: "edge" } },
    want: 1,
  },
  "several dnsNames hits weigh no more than one, so list order decides": {
    solvers: [
      http("a", { dnsNames: ["app.sys.example.com"] }),
      http("b", { dnsNames: ["app.sys.example.com", "other.example.com"] }),
    ],
    want: 0,
  },
  "between two dnsNames matches the longer dnsZones match wins": {
    solvers: [
      http("a", { dnsNames: ["app.sys.example.com"], dnsZones: ["example.com"] }),
      http("b", { dnsNames: ["app.sys.example.com"], dnsZones: ["sys.example.com"] }),
    ],
    want: 1,
  },
  "between two dnsNames matches with equal zones the one with more matchLabels wins": {
    solvers: [
      http("a", { dnsNames: ["app.sys.example.com"] }),
      http("b", { dnsNames: ["app.sys.example.com"], matchLabels: { team: "web" } }),
    ],
    input: { certificateLabels: { team: "web" } },
    want: 1,
  },
  "the longest dnsZones suffix wins whatever the list order": {
    solvers: [http("a", { dnsZones: ["sys.example.com"] }), http("b", { dnsZones: ["example.com"] })],
    want: 0,
  },
  "the longest of a solver's own dnsZones counts": {
    solvers: [http("a", { dnsZones: ["example.com"] }), http("b", { dnsZones: ["com", "sys.example.com"] })],
    want: 1,
  },
  "a dnsZones match beats a solver with more matchLabels but no zones": {
    solvers: [http("a", { matchLabels: { team: "web" } }), http("b", { dnsZones: ["example.com"] })],
    input: { certificateLabels: { team: "web" } },
    want: 1,
  },
  "with equal zones the one with more matchLabels wins": {
    solvers: [
      http("a", { dnsZones: ["example.com"], matchLabels: { team: "web" } }),
      http("b", { dnsZones: ["example.com"], matchLabels: { team: "web", tier: "edge" } }),
    ],
    input: { certificateLabels: { team: "web", tier: "edge" } },
    want: 1,
  },
  "with equal weight the earlier solver wins": {
    solvers: [http("a", { matchLabels: { team: "web" } }), dns("b", { matchLabels: { tier: "edge" } })],
    input: { certificateLabels: { team: "web", tier: "edge" } },
    want: 0,
  },
  "a dnsZones entry matches whole labels only": {
    solvers: [http("a", { dnsZones: ["example.com"] })],
    input: { dnsName: "badexample.com" },
    want: undefined,
  },
  "a dnsZones entry matches the zone apex itself": {
    solvers: [http("a", { dnsZones: ["example.com"] })],
    input: { dnsName: "example.com" },
    want: 0,
  },
  "dnsZones compare case-insensitively and ignore a trailing dot": {
    solvers: [http("a", { dnsZones: ["Example.COM."] })],
    input: { dnsName: "app.example.com" },
    want: 0,
  },
  "dnsNames compare exactly": {
    solvers: [http("a", { dnsNames: ["APP.sys.example.com"] })],
    want: undefined,
  },
  "every criterion of a selector must match": {
    solvers: [http("a", { dnsZones: ["example.com"], matchLabels: { team: "db" } }), http("b")],
    input: { certificateLabels: { team: "web" } },
    want: 1,
  },
  "a label with the right key but another value does not match": {
    solvers: [http("a", { matchLabels: { team: "db" } })],
    input: { certificateLabels: { team: "web" } },
    want: undefined,
  },
  "a wildcard name matches a dnsNames entry written with its star": {
    solvers: [dns("a", { dnsZones: ["example.com"] }), dns("b", { dnsNames: ["*.example.com"] })],
    input: { dnsName: "example.com", wildcard: true },
    want: 1,
  },
  "a wildcard name does not match a dnsNames entry for its apex": {
    solvers: [dns("a", { dnsNames: ["example.com"] })],
    input: { dnsName: "example.com", wildcard: true },
    want: undefined,
  },
  "the apex does not match a dnsNames entry for the wildcard": {
    solvers: [dns("a", { dnsNames: ["*.example.com"] })],
    input: { dnsName: "example.com" },
    want: undefined,
  },
  "a wildcard name matches a dnsZones entry for its apex": {
    solvers: [dns("a", { dnsZones: ["example.com"] })],
    input: { dnsName: "example.com", wildcard: true },
    want: 0,
  },
  "a name given with its star is treated as a wildcard": {
    solvers: [dns("a", { dnsNames: ["*.example.com"] })],
    input: { dnsName: "*.example.com", wildcard: true },
    want: 0,
  },
  "a wildcard served only by HTTP-01 solvers has no solver when the CA offers only dns-01": {
    solvers: [http("a")],
    input: { dnsName: "example.com", wildcard: true, offeredTypes: ["dns-01"] },
    want: undefined,
  },
  "no solvers configured means no solver": { solvers: [], want: undefined },
};

describe("selectSolver", () => {
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const got = selectSolver(c.solvers, input(c.input));
      if (c.want === undefined) {
        expect(got.solver).toBeUndefined();
        return;
      }
      expect(got).toEqual({ solver: c.solvers[c.want], index: c.want });
    });
  }

  const reasons: Record<
    string,
    { solvers: readonly AcmeSolver[]; input: Partial<SelectSolverInput>; want: string }
  > = {
    "the reason says the issuer has no solvers": {
      solvers: [],
      input: { dnsName: "app.example.com" },
      want: "no solver for app.example.com: the issuer has no solvers configured",
    },
    "the reason names the offered types when no solver has one of them": {
      solvers: [http("a"), http("b")],
      input: { dnsName: "example.com", wildcard: true, offeredTypes: ["dns-01"] },
      want: "no solver for *.example.com: 2 solvers configured, all http-01, but the CA offers dns-01",
    },
    "the reason says no selector matched": {
      solvers: [http("a", { dnsZones: ["example.org"] }), dns("b", { dnsNames: ["x.example.com"] })],
      input: { dnsName: "app.example.com" },
      want:
        "no solver for app.example.com: 2 solvers configured, none offers http-01/dns-01 with a selector " +
        "matching it (dnsNames, dnsZones and matchLabels must all match the name and the Certificate's labels)",
    },
  };
  for (const [name, c] of Object.entries(reasons)) {
    it(name, () => {
      const got = selectSolver(c.solvers, input(c.input));
      expect(got).toEqual({ solver: undefined, reason: c.want });
    });
  }
});
