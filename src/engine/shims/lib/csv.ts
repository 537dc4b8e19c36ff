/**
 * One line of CSV read as Go's encoding/csv reads it with default settings
 * (cert-manager's `SplitWithEscapeCSV`, which the shims use for the
 * `subject-*` annotations): fields separated by commas; a field that starts
 * with `"` is quoted, `""` inside it is one quote, and only a comma or the
 * end may follow its closing quote; a quote inside an unquoted field is an
 * error; blank lines are skipped; more than one record is refused.
 */
export function splitCsvRecord(
  input: string,
): { ok: true; values: string[] } | { ok: false; message: string } {
  const text = input.replaceAll("\r\n", "\n");
  const records: string[][] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === "\n") {
      i++; // blank line
      continue;
    }
    const record: string[] = [];
    for (;;) {
      if (text[i] === '"') {
        let value = "";
        i++;
        for (;;) {
          if (i >= text.length) return { ok: false, message: 'extraneous or missing " in quoted-field' };
          const c = text[i] as string;
          if (c === '"') {
            if (text[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          value += c;
          i++;
        }
        if (i < text.length && text[i] !== "," && text[i] !== "\n")
          return { ok: false, message: 'extraneous or missing " in quoted-field' };
        record.push(value);
      } else {
        let end = i;
        while (end < text.length && text[end] !== "," && text[end] !== "\n") end++;
        const value = text.slice(i, end);
        if (value.includes('"')) return { ok: false, message: 'bare " in non-quoted-field' };
        record.push(value);
        i = end;
      }
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "\n") i++;
      break;
    }
    records.push(record);
  }
  if (records.length === 0)
    return { ok: false, message: `no values found after parsing ${JSON.stringify(input)}` };
  if (records.length > 1)
    return {
      ok: false,
      message: `refusing to use ${JSON.stringify(input)} as input as it parses as multiple lines of CSV`,
    };
  return { ok: true, values: records[0] as string[] };
}
