import { pino, type Logger } from "pino";
import type { LogFormat, LogLevel } from "./config.js";

export type { Logger };

/**
 * Structured logs. JSON by default (one object per line); `text` is for a
 * person at a terminal. Paths that could ever hold a credential or key are
 * redacted as a last line of defence: code must not log them in the first place.
 */
export function createLogger(options: { level: LogLevel; format: LogFormat; name?: string }): Logger {
  const base = {
    level: options.level,
    name: options.name ?? "meshsign",
    redact: {
      paths: [
        "token",
        "authorization",
        "privateKey",
        "privateKeyPem",
        "key",
        "csr",
        "csrPem",
        "*.token",
        "*.authorization",
        "*.privateKey",
        "*.privateKeyPem",
        "*.csr",
        "*.csrPem",
        "headers.authorization",
      ],
      censor: "[redacted]",
    },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (options.format === "text") {
    return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: false, destination: 2 } } });
  }
  return pino(base, pino.destination({ dest: 2, sync: false }));
}
