/**
 * The Helm chart (deploy/charts/meshsign) and the kustomize install (manifests/)
 * must not drift apart. This suite needs no Helm: it regenerates the chart's
 * copies of manifests/ (CRDs, RBAC rules) and compares them with the committed
 * files, and checks the chart's defaults against manifests/overlays/istio
 * (replicas, image, ports, probes, security contexts, resources, volumes, and
 * the container's arguments). The Kubernetes suite (test/kube/helm.test.ts)
 * renders the chart with a real Helm and compares every object.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { CHART_DIR, renderChartFiles } from "../../scripts/lib/chart.js";
import { chartValuesSchema } from "../../scripts/lib/chart-values.js";
import { tryParseLabelSelector } from "../../src/api/label-selector.js";

const root = path.resolve(import.meta.dirname, "../..");
const read = (rel: string) => readFileSync(path.join(root, rel), "utf8");
const chart = (rel: string) => read(`${CHART_DIR}/${rel}`);

interface Container {
  name: string;
  image: string;
  args: string[];
  env: unknown[];
  ports: Array<{ name: string; containerPort: number }>;
  readinessProbe: unknown;
  livenessProbe: unknown;
  resources: unknown;
  securityContext: unknown;
  volumeMounts: unknown[];
}
interface Deployment {
  spec: {
    replicas: number;
    strategy: unknown;
    template: { spec: { securityContext: unknown; volumes: unknown[]; containers: Container[] } };
  };
}

/** manifests/base's Deployment with the Istio overlay's flags appended, as kustomize renders it. */
function manifestDeployment(): Deployment {
  const deployment = parse(read("manifests/base/deployment.yaml")) as Deployment;
  const patches = parse(read("manifests/overlays/istio/meshsign-istio.yaml")) as Array<{
    op: string;
    path: string;
    value: string;
  }>;
  const container = deployment.spec.template.spec.containers[0] as Container;
  for (const p of patches) {
    // The overlay only appends flags; anything else would need this reading updated.
    expect([p.op, p.path]).toEqual(["add", "/spec/template/spec/containers/0/args/-"]);
    container.args.push(p.value);
  }
  return deployment;
}

const values = parse(chart("values.yaml")) as Record<string, unknown>;

function valueAt(dotted: string): unknown {
  let v: unknown = values;
  for (const key of dotted.split(".")) v = (v as Record<string, unknown> | undefined)?.[key];
  return v;
}

const NAMESPACE = "meshsign-system";

/**
 * Evaluates one line of the args block with the default values: `.Values.<path>`
 * and `.Release.Namespace` references, and the serving DNS names helper. Any other
 * template action is refused, so a new kind of line needs this test extended.
 */
function evaluateArg(line: string): string {
  return line.replace(/\{\{ ([^}]*) \}\}/g, (_, action: string) => {
    if (action === ".Release.Namespace") return NAMESPACE;
    if (action === 'include "meshsign.servingDNSNames" .') {
      expect(valueAt("app.tls.certificateDNSNames")).toEqual([]);
      // The helper's fallback, as _helpers.tpl spells it.
      expect(chart("templates/_helpers.tpl")).toContain(
        'printf "meshsign.%s.svc,meshsign.%s.svc.cluster.local" .Release.Namespace .Release.Namespace',
      );
      return `meshsign.${NAMESPACE}.svc,meshsign.${NAMESPACE}.svc.cluster.local`;
    }
    const ref = /^\.Values\.([\w.]+)$/.exec(action);
    if (!ref) throw new Error(`args line the test cannot evaluate: ${line}`);
    const v = valueAt(ref[1] as string);
    if (typeof v !== "string" && typeof v !== "number") throw new Error(`${ref[1]} is not a scalar`);
    return String(v);
  });
}

/** Whether a conditional block of the args fires with the default values. */
function guardFires(guard: string): boolean {
  const m = /^(with|if|if not) \.Values\.([\w.]+)$/.exec(guard);
  if (m) {
    const v = valueAt(m[2] as string);
    // Go templates' emptiness: false, 0, "", nil, an empty list.
    const truthy =
      v !== undefined &&
      v !== null &&
      v !== "" &&
      v !== false &&
      v !== 0 &&
      !(Array.isArray(v) && v.length === 0);
    return m[1] === "if not" ? !truthy : truthy;
  }
  if (guard === 'if ne (include "meshsign.leaderElectionNamespace" .) "meshsign-system"') {
    return ((valueAt("app.controller.leaderElectionNamespace") as string) || NAMESPACE) !== "meshsign-system";
  }
  throw new Error(`args guard the test cannot evaluate: ${guard}`);
}

/** The chart's container args with the default values in meshsign-system. */
function chartDefaultArgs(): string[] {
  const template = chart("templates/deployment.yaml");
  const block = /^ {10}args:\n([\s\S]*?)^ {10}env:/m.exec(template)?.[1] ?? "";
  const args: string[] = [];
  // Depth of nested conditionals, and whether each fires.
  const stack: boolean[] = [];
  for (const raw of block.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("{{- /*")) continue;
    const action = /^\{\{- (.*) \}\}$/.exec(line)?.[1];
    if (action === "end") stack.pop();
    else if (action !== undefined) stack.push(stack.every(Boolean) && guardFires(action));
    else if (stack.every(Boolean)) args.push(evaluateArg(line.replace(/^- /, "")));
  }
  expect(stack).toEqual([]);
  return args;
}

describe("the Helm chart and manifests/", () => {
  it("carries the CRDs, RBAC rules and values schema exactly as `npm run gen:chart` generates them", () => {
    const crdFiles = readdirSync(path.join(root, "manifests/crds")).filter(
      (f) => f.endsWith(".yaml") && f !== "kustomization.yaml",
    );
    const generated = renderChartFiles(read, crdFiles);
    const committedCrds = readdirSync(path.join(root, CHART_DIR, "templates/crds")).map(
      (f) => `templates/crds/${f}`,
    );
    expect(committedCrds.sort()).toEqual(
      [...generated.keys()].filter((k) => k.startsWith("templates/crds/")).sort(),
    );
    for (const [file, text] of generated)
      expect(chart(file), `${file} is stale: npm run gen:chart`).toBe(text);
  });

  it("grants the same RBAC rules as manifests/base/rbac.yaml", () => {
    const manifests = parseAllDocuments(read("manifests/base/rbac.yaml")).map((d) => d.toJS());
    for (const [kind, file] of [
      ["ClusterRole", "templates/clusterrole.yaml"],
      ["Role", "templates/role.yaml"],
    ] as const) {
      // The rules are plain YAML (the template actions are all in metadata).
      const rules = parse(chart(file).slice(chart(file).indexOf("\nrules:\n"))) as { rules: unknown };
      expect(rules.rules).toEqual(manifests.find((m) => m.kind === kind)?.rules);
    }
  });

  it("grants no verb meshsign never sends: no patch (it writes with create and update), no events.k8s.io Events", () => {
    // KubeStore.apply (server-side apply, a PATCH) is the only PATCH in src and nothing calls it
    // outside the test that proves it is refused.
    const rules = parseAllDocuments(read("manifests/base/rbac.yaml"))
      .map((d) => d.toJS() as { kind: string; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] })
      .flatMap((m) => (m.rules ?? []).map((r) => ({ ...r, kind: m.kind })));
    expect(rules.filter((r) => r.verbs.includes("patch")).map((r) => `${r.kind} ${r.apiGroups.join(",")} ${r.resources.join(",")}`)).toEqual([]);
    expect(rules.filter((r) => r.apiGroups.includes("events.k8s.io")).map((r) => r.resources.join(","))).toEqual([]);
  });

  it("defaults to the Istio overlay's container arguments", () => {
    const container = manifestDeployment().spec.template.spec.containers[0] as Container;
    expect(chartDefaultArgs()).toEqual(container.args);
  });

  it("defaults to the manifests' replicas, image, ports, resources and security contexts", () => {
    const deployment = manifestDeployment();
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0] as Container;
    const port = (name: string) => container.ports.find((p) => p.name === name)?.containerPort;
    expect(valueAt("replicaCount")).toBe(deployment.spec.replicas);
    expect(valueAt("app.server.serving.port")).toBe(port("grpc"));
    expect(valueAt("app.metrics.port")).toBe(port("metrics"));
    expect(valueAt("app.readinessProbe.port")).toBe(port("health"));
    expect(valueAt("resources")).toEqual(container.resources);
    expect(valueAt("securityContext")).toEqual(container.securityContext);
    expect(valueAt("podSecurityContext")).toEqual(pod.securityContext);

    const service = parse(read("manifests/base/service.yaml")) as {
      spec: { ports: Array<{ name: string; port: number }> };
    };
    expect(valueAt("service.port")).toBe(service.spec.ports.find((p) => p.name === "grpc")?.port);

    const kustomization = parse(read("manifests/base/kustomization.yaml")) as {
      images: Array<{ name: string; newTag: string }>;
    };
    const chartYaml = parse(chart("Chart.yaml")) as { appVersion: string };
    const packageJson = JSON.parse(read("package.json")) as { version: string };
    expect(valueAt("image.repository")).toBe(container.image);
    expect(valueAt("image.tag")).toBe("");
    expect(kustomization.images).toEqual([{ name: container.image, newTag: chartYaml.appVersion }]);
    expect(chartYaml.appVersion).toBe(packageJson.version);
  });

  it("keeps the manifests' probes, strategy, env and volumes in the Deployment template", () => {
    const container = manifestDeployment().spec.template.spec.containers[0] as Container;
    const pod = manifestDeployment().spec.template.spec;
    // The template without its action lines is the static part of the Deployment.
    const staticPart = parse(
      chart("templates/deployment.yaml")
        .split("\n")
        .filter((l) => !l.includes("{{"))
        .join("\n"),
    ) as Deployment;
    const c = staticPart.spec.template.spec.containers[0] as Container;
    expect(c.readinessProbe).toEqual(container.readinessProbe);
    expect(c.livenessProbe).toEqual(container.livenessProbe);
    expect(c.env).toEqual(container.env);
    expect(c.volumeMounts).toEqual(container.volumeMounts);
    expect(staticPart.spec.template.spec.volumes).toEqual(pod.volumes);
    expect(staticPart.spec.strategy).toEqual(manifestDeployment().spec.strategy);
    expect(c.ports.map((p) => p.name)).toEqual(container.ports.map((p) => p.name));
  });
});

describe("the values schema (values.schema.json)", () => {
  it("accepts the chart's own values.yaml", () => {
    expect(chartValuesSchema.safeParse(values).error).toBeUndefined();
  });

  it.each([
    ["a misspelled key", { app: { tls: { trustDomian: "x" } } }, ["app", "tls"]],
    ["a log level meshsign does not know", { app: { logLevel: "verbose" } }, ["app", "logLevel"]],
    [
      "a duration meshsign cannot read",
      { app: { server: { maxCertificateDuration: "1 day" } } },
      ["app", "server", "maxCertificateDuration"],
    ],
    [
      "an issuer kind other than Issuer or ClusterIssuer",
      { app: { certmanager: { issuer: { kind: "CA" } } } },
      ["app", "certmanager", "issuer", "kind"],
    ],
    [
      "a label selector meshsign would refuse",
      { app: { controller: { configmapNamespaceSelector: "mesh in on" } } },
      ["app", "controller", "configmapNamespaceSelector"],
    ],
  ])("refuses %s, naming its path", (_, override, where) => {
    const merged = structuredClone(values);
    deepMerge(merged, override);
    const issues = chartValuesSchema.safeParse(merged).error?.issues ?? [];
    expect(issues.map((i) => i.path)).toEqual([where]);
  });
});

describe("the chart's configmapNamespaceSelector", () => {
  // The pattern Helm checks (values.schema.json), against the parser meshsign runs at start-up.
  const schema = JSON.parse(chart("values.schema.json"));
  const pattern = new RegExp(schema.properties.app.properties.controller.properties.configmapNamespaceSelector.pattern);

  it.each([
    "",
    "mesh=on",
    "mesh==on,team!=",
    "maistra.io/member-of in (istio-system)",
    "!istio-injection",
    " env notin ( a , , b ) , size>10 , tier ",
    "in in (in,notin)",
    "env in ()",
    "env in prod",
    "env in (a b)",
    "env=a,",
    "!env=x",
    "-bad=x",
    "Example.com/x=y",
    "a/b/c",
    "size>x",
    "size<",
    "env=-x",
    "kin(a)",
    "env=a\nb",
  ])("takes %j exactly when meshsign takes it", (text) => {
    expect(pattern.test(text)).toBe("selector" in tryParseLabelSelector(text));
  });
});

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(source)) {
    const t = target[k];
    if (v && typeof v === "object" && t && typeof t === "object") {
      deepMerge(t as Record<string, unknown>, v as Record<string, unknown>);
    } else target[k] = v;
  }
}

describe("the args reading itself", () => {
  it("refuses template actions it does not understand", () => {
    expect(() => evaluateArg("--x={{ .Values.app.tls.trustDomain | upper }}")).toThrow(/cannot evaluate/);
    expect(() => guardFires('if eq .Values.app.logLevel "debug"')).toThrow(/cannot evaluate/);
  });

  it("evaluates references and guards with the default values", () => {
    expect(evaluateArg("--trust-domain={{ .Values.app.tls.trustDomain }}")).toBe(
      "--trust-domain=cluster.local",
    );
    expect(guardFires("with .Values.app.tls.rootCAFile")).toBe(false);
    expect(guardFires("if not .Values.app.tls.istiodCertificateEnable")).toBe(false);
    expect(guardFires("if .Values.podDisruptionBudget.enabled")).toBe(true);
  });
});
