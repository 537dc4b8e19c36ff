/**
 * Every benchmark case, in the order `--case all` runs them. To add one (the
 * engine case of issue 3, say): write `bench/cases/<name>.ts` exporting a
 * {@link BenchCase}, and list it here.
 */
import { coldConnectionCase } from "./cold-connection.js";
import { createCertificateCase } from "./create-certificate.js";
import { cryptoCeilingCase } from "./crypto-ceiling.js";
import { grpcCeilingCase } from "./grpc-ceiling.js";
import type { BenchCase } from "./types.js";

export type { BenchCase, BenchContext, CaseReport, TargetCheck } from "./types.js";

export const CASES: readonly BenchCase[] = [cryptoCeilingCase, grpcCeilingCase, createCertificateCase, coldConnectionCase];
