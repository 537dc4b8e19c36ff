import { type DestinationStream, pino, type Logger } from "pino";
import type { LogFormat, LogLevel } from "./config.js";

export type { Logger };

/** Top-level keys (and one fixed path) that are always censored. */
const REDACT_PATHS = [
  "token",
  "authorization",
  "privateKey",
  "privateKeyPem",
  "key",
  "csr",
  "csrPem",
  "headers.authorization",
];
/** The same names one level down, under any top-level key (`{ detail: { token } }`). */
const REDACT_NESTED_PATHS = [
  "*.token",
  "*.authorization",
  "*.privateKey",
  "*.privateKeyPem",
  "*.csr",
  "*.csrPem",
];
const CENSOR = "[redacted]";

/**
 * Structured logs. JSON by default (one object per line); `text` is for a
 * person at a terminal. Paths that could ever hold a credential or key are
 * redacted as a last line of defence: code must not log them in the first place.
 */
export function createLogger(options: {
  level: LogLevel;
  format: LogFormat;
  name?: string;
  /** Where JSON lines go; default stderr. */
  destination?: DestinationStream;
}): Logger {
  const base = {
    level: options.level,
    name: options.name ?? "meshsign",
    redact: { paths: [...REDACT_PATHS, ...REDACT_NESTED_PATHS], censor: CENSOR },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (options.format === "text") {
    return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: false, destination: 2 } } });
  }
  return pino(base, options.destination ?? pino.destination({ dest: 2, sync: false }));
}

/**
 * A child of `log` for lines whose fields are all strings or numbers, such as
 * the audit line of every issued certificate: the same output, without the
 * `*.name` paths, which can only match inside an object-valued field. pino's
 * redaction (@pinojs/redact 0.4) runs a `*` path for every field of every
 * line and re-parses each path per field: ~5 us and ~15 KB of garbage per
 * audit line, a fifth of all CreateCertificate allocated (bench, peer case).
 * The top-level paths stay, so a credential passed by mistake is still
 * censored.
 */
export function flatLineLogger(log: Logger): Logger {
  return log.child({}, { redact: { paths: REDACT_PATHS, censor: CENSOR } });
}
