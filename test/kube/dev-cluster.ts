/**
 * Starts the test control plane (etcd + kube-apiserver) with meshsign's CRDs
 * and keeps it up until Ctrl-C, for trying meshsign's Kubernetes mode by hand:
 *
 *   bash test/kube/setup.sh && npx tsx test/kube/dev-cluster.ts
 *   node bin/meshsign.js serve --mode kubernetes --kubeconfig <printed path> ...
 */
import { KubeConfig } from "@kubernetes/client-node";
import { startKubeApiServer } from "./harness.js";
import { installCrds } from "./lib/crds.js";

const api = await startKubeApiServer({ keepDir: process.argv.includes("--keep") });
const kc = new KubeConfig();
kc.loadFromFile(api.kubeconfigPath);
const crds = await installCrds(kc);
process.stdout.write(
  `kube-apiserver ${api.server}\nkubeconfig ${api.kubeconfigPath}\nCRDs ${crds.join(", ")}\n`,
);
const stop = async () => {
  await api.stop();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
setInterval(() => {}, 1 << 30);
