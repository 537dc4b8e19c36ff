/**
 * The root ConfigMap rules, case by case as istio-csr's
 * pkg/controller/configmap_test.go Test_Reconcile lists them (reference §7.1).
 */
import { describe, expect, it } from "vitest";
import { EVERYTHING, type LabelSelector, parseLabelSelector } from "../../src/api/label-selector.js";
import type { ConfigMap, Namespace } from "../../src/api/types.js";
import { planRootConfigMap } from "../../src/trust/lib/root-configmap-plan.js";

const ROOTS = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

function ns(labels: Record<string, string> = {}, terminating = false): Namespace {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "app", labels },
    ...(terminating ? { status: { phase: "Terminating" as const } } : {}),
  };
}

function cm(data: Record<string, string> | undefined, labels: Record<string, string> | undefined): ConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: "istio-ca-root-cert",
      namespace: "app",
      resourceVersion: "7",
      ...(labels ? { labels } : {}),
    },
    ...(data ? { data } : {}),
  };
}

const good = { "istio.io/config": "true" };

function plan(
  namespace: Namespace | undefined,
  configMap: ConfigMap | undefined,
  selector: LabelSelector = EVERYTHING,
  roots: string | null = ROOTS,
) {
  return planRootConfigMap({
    namespace,
    configMap,
    roots: roots ?? undefined,
    selector,
    name: "istio-ca-root-cert",
    key: "root-cert.pem",
    label: ["istio.io/config", "true"],
  });
}

describe("planRootConfigMap", () => {
  it.each([
    [
      "a missing namespace is ignored",
      plan(undefined, undefined),
      { action: "skip", reason: "NamespaceNotFound" },
    ],
    [
      "a terminating namespace is ignored",
      plan(ns({}, true), undefined),
      { action: "skip", reason: "NamespaceTerminating" },
    ],
    [
      "a namespace that does not match the selector is left alone",
      plan(ns({ team: "b" }), undefined, parseLabelSelector("team=a")),
      { action: "skip", reason: "NamespaceNotSelected" },
    ],
    [
      "nothing is written before roots are known",
      plan(ns(), undefined, EVERYTHING, null),
      { action: "skip", reason: "NoRoots" },
    ],
    [
      "a correct ConfigMap is left as is",
      plan(ns(), cm({ "root-cert.pem": ROOTS }, good)),
      { action: "none" },
    ],
    [
      "a correct ConfigMap with extra labels is left as is",
      plan(ns(), cm({ "root-cert.pem": ROOTS }, { ...good, extra: "kept" })),
      { action: "none" },
    ],
  ])("%s", (_name, got, want) => {
    expect(got).toEqual(want);
  });

  it("creates a missing ConfigMap with only root-cert.pem and the istio.io/config label", () => {
    expect(plan(ns({ team: "a" }), undefined, parseLabelSelector("team=a"))).toEqual({
      action: "create",
      configMap: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "istio-ca-root-cert", namespace: "app", labels: good },
        data: { "root-cert.pem": ROOTS },
      },
    });
  });

  it.each([
    ["a ConfigMap with no data", cm(undefined, good)],
    ["a ConfigMap with wrong data", cm({ "root-cert.pem": "old" }, good)],
    ["a ConfigMap with an extra key", cm({ "root-cert.pem": ROOTS, "extra.pem": "x" }, good)],
    ["a ConfigMap without the label", cm({ "root-cert.pem": ROOTS }, undefined)],
    [
      "a ConfigMap with the label set wrong",
      cm({ "root-cert.pem": ROOTS }, { "istio.io/config": "false", other: "kept" }),
    ],
  ])(
    "repairs %s to exactly root-cert.pem and the label, keeping other labels and the resourceVersion",
    (_name, before) => {
      const got = plan(ns(), before);
      expect(got.action).toBe("update");
      if (got.action !== "update") return;
      expect(got.configMap.data).toEqual({ "root-cert.pem": ROOTS });
      expect(got.configMap.metadata.labels).toEqual({ ...before.metadata.labels, ...good });
      expect(got.configMap.metadata.resourceVersion).toBe("7");
    },
  );

  it("drops binaryData when repairing", () => {
    const before: ConfigMap = { ...cm({ "root-cert.pem": ROOTS }, good), binaryData: { blob: "AAAA" } };
    const got = plan(ns(), before);
    expect(got.action).toBe("update");
    if (got.action === "update") expect(got.configMap.binaryData).toBeUndefined();
  });
});
