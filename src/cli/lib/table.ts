/**
 * A plain-text table as kubectl prints one: upper-case headers, columns
 * left-aligned and three spaces apart, an empty cell shown as "<none>" so
 * no row ever has a hole that shifts the eye.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((r) => headers.map((_, i) => (r[i] === undefined || r[i] === "" ? "<none>" : (r[i] as string))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] as number) + 3)))
      .join("")
      .trimEnd();
  return [line(headers), ...cells.map(line)].join("\n");
}
