/** Number formatting for the report tables. */

export const int = (n: number): string =>
  Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a";
export const ms = (n: number): string =>
  Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : "n/a";
export const us = (n: number): string => (Number.isFinite(n) ? `${Math.round(n)} us` : "n/a");
export const mb = (bytes: number): string => `${Math.round(bytes / 2 ** 20)} MB`;
export const pct = (part: number, whole: number): string =>
  whole > 0 ? `${Math.round((100 * part) / whole)}%` : "n/a";
