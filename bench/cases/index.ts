/**
 * Every benchmark case, in the order they run. `--case all` runs those with
 * `inDefaultRun`; the engine case takes minutes, so it runs when
 * named (`--case all,engine`), and so does the soak (`--case soak`, 30 minutes
 * by default), the Vault case (`--case vault`, needs test/vault/setup.sh's Vault) and the
 * side-by-side run against Istio's CA (`--case peer`, minutes, builds Go programs on first
 * use), and Kubernetes mode against the test kube-apiserver (`--case kube`, needs
 * test/kube/setup.sh's binaries), and ACME issuance against Pebble (`--case acme`, HTTP-01, next to
 * a bare ACME client bench/peer/setup.sh builds, and `--case acme-dns01`, RFC 2136 into knotd; need
 * test/acme/setup.sh's and test/dns/setup.sh's binaries). To add a case: write `bench/cases/<name>.ts`
 * exporting a {@link BenchCase}, and list it here.
 */
import { acmeCase, acmeDns01Case } from "./acme.js";
import { coldConnectionCase } from "./cold-connection.js";
import { createCertificateCase } from "./create-certificate.js";
import { createCertificateFloorCase } from "./create-certificate-floor.js";
import { cryptoCeilingCase } from "./crypto-ceiling.js";
import { engineCase } from "./engine.js";
import { grpcCeilingCase } from "./grpc-ceiling.js";
import { handlerCase } from "./handler.js";
import { kubeCase } from "./kube.js";
import { peerCase } from "./peer.js";
import { pkiMicroCase } from "./pki-micro.js";
import { soakCase } from "./soak.js";
import type { BenchCase } from "./types.js";
import { vaultCase } from "./vault.js";

export type { BenchCase, BenchContext, CaseReport, TargetCheck } from "./types.js";

export const CASES: readonly BenchCase[] = [
  cryptoCeilingCase,
  pkiMicroCase,
  handlerCase,
  grpcCeilingCase,
  createCertificateFloorCase,
  createCertificateCase,
  coldConnectionCase,
  engineCase,
  soakCase,
  vaultCase,
  peerCase,
  kubeCase,
  acmeCase,
  acmeDns01Case,
];
