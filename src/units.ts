// docker's go-units: sizes and durations as docker prints them, for every front end (the CLI's
// tables, the progress lines a pull streams).

/** docker's units.HumanDuration: "Less than a second", "5 seconds", "About a minute", "3 hours"... */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.round(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.round(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.round(h / 24 / 30)} months`;
  return `${Math.round(h / 24 / 365)} years`;
}

/** docker's units.HumanSize: decimal units, three significant digits ("4.26MB"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return `${Number(value.toPrecision(3))}${units[i]}`;
}

/**
 * A Go duration as docker's flags take it ("30s", "1m30s", "1.5h", "300ms", "0"): milliseconds.
 * Null when the text is not one.
 */
export function parseDuration(text: string): number | null {
  if (text === '0') return 0;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m === null) return null;
    ms += Number(m[1]) * unit[m[2]!]!;
    at = re.lastIndex;
  }
  return at === 0 ? null : ms;
}
