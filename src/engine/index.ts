/**
 * Public surface of the Certificate engine. For the server and CLI wiring:
 * Engine (start/stop/renew/describe/inspectSecret/list), the clock and random
 * sources, the event recorder, the file sink for standalone output. For tests
 * and other libraries: the policy chains, the renewal and back-off formulas,
 * and the reason mapping.
 */
export { Engine } from "./engine.js";
export type { EngineFailure, EngineOptions, CertificateSummary, CertificateDescription, IssuerSummary, CertificateInfoJson, SecretInspection } from "./engine.js";
export { systemClock, systemRandom } from "./clock.js";
export type { Clock, RandomSource, Timer } from "./clock.js";
export { MemoryEventRecorder, StoreEventRecorder, noopEventRecorder, DEFAULT_EVENT_TTL_MS, DEFAULT_MAX_EVENTS } from "./events.js";
export type { EventLog, EventRecorder, EventType, MemoryEventRecorderOptions, StoreEventRecorderOptions } from "./events.js";
export { EngineMetrics } from "./metrics.js";
export { FileSecretSink } from "./secret-files.js";
export type { SecretSink, SecretFileRef, FileSecretSinkOptions, HookResult } from "./secret-files.js";
export { IssuerController } from "./issuer-controller.js";
export type { IssuerControllerOptions } from "./issuer-controller.js";
export { Scheduler } from "./scheduler.js";
export type { SchedulerOptions, Handler } from "./scheduler.js";
export { renewalTime, renewBeforeWindowMs, renewalJitterMs } from "./renewal.js";
export type { RenewalInput } from "./renewal.js";
export { exponentialDelayMs, nextIssuanceAttemptMs, DEFAULT_ISSUANCE_BACKOFF, DEFAULT_TRANSIENT_BACKOFF } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { TRIGGER_CHAIN, READINESS_CHAIN, evaluate, readSecretContents } from "./policies.js";
export type { Check, PolicyInput, Violation, SecretContents } from "./policies.js";
export { REASON, CR_REASON, classifySignError } from "./reasons.js";
export type { SignOutcome } from "./reasons.js";
