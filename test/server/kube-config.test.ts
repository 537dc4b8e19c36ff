import { afterAll, describe, expect, it } from "vitest";
import { loadKubeConfig } from "../../src/server/kube-config.js";
import { TempDir } from "../lib/temp-dir.js";

const tmp = new TempDir("meshsign-kubeconfig-");
afterAll(() => tmp.remove());

const GOOD = `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:6443" } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`;

describe("the kubeconfig of kubernetes mode", () => {
  it.each([
    ["a file that does not exist", () => tmp.path("missing.kubeconfig"), /^--kubeconfig \S+missing\.kubeconfig: cannot read it \(ENOENT\)$/],
    ["a file that is not YAML", () => tmp.write("bad.kubeconfig", "clusters: [oops\n"), /^--kubeconfig \S+bad\.kubeconfig: not a kubeconfig: /],
    ["a kubeconfig without a current context", () => tmp.write("empty.kubeconfig", "apiVersion: v1\nkind: Config\n"), /^--kubeconfig \S+empty\.kubeconfig: its current-context names no cluster$/],
  ])("refuses %s naming --kubeconfig and the file", async (_, file, message) => {
    await expect(loadKubeConfig({ kubeconfig: file() }, {})).rejects.toThrow(message);
  });

  it("refuses to guess outside a pod when no --kubeconfig is given", async () => {
    await expect(loadKubeConfig({ kubeconfig: "" }, {})).rejects.toThrow(
      "--kubeconfig: not given, and not running in a pod (KUBERNETES_SERVICE_HOST/PORT are unset): give the cluster's kubeconfig (--kubeconfig or MESHSIGN_KUBECONFIG)",
    );
  });

  it("loads a kubeconfig whose current context names a cluster", async () => {
    const kc = await loadKubeConfig({ kubeconfig: tmp.write("good.kubeconfig", GOOD) }, {});
    expect(kc.getCurrentCluster()?.server).toBe("https://127.0.0.1:6443");
  });
});
