// Docker's ways of printing: tables with aligned columns, times ago (sizes and durations: units.ts).
import { humanDuration } from '../units.js';

/** Columns padded to the widest cell, three spaces apart, as docker prints them. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('   ').trimEnd()).join('\n') + '\n';
}

export function ago(iso: string | undefined): string {
  return iso ? `${humanDuration(Date.now() - Date.parse(iso))} ago` : '';
}
