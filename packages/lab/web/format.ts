/** Numbers for people: units always shown, three significant figures, thousands separated. */

export function fmtCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return '–';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)));
  return value.toFixed(Math.min(decimals, 3));
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms >= 10_000) return `${fmtNumber(ms / 1000)} s`;
  return `${fmtNumber(ms)} ms`;
}

export function fmtBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '–';
  if (bytes < 1024) return `${fmtNumber(bytes)} B`;
  if (bytes < 1024 * 1024) return `${fmtNumber(bytes / 1024)} KiB`;
  if (bytes < 1024 ** 3) return `${fmtNumber(bytes / 1024 ** 2)} MiB`;
  return `${fmtNumber(bytes / 1024 ** 3)} GiB`;
}

export function fmtPercent(part: number, whole: number): string {
  if (whole === 0) return '–';
  return `${fmtNumber((part / whole) * 100, 2)} %`;
}

/** Axis tick labels: short forms (1k, 10k, 1M). */
export function fmtTick(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${fmtNumber(value / 1e9, 2)}G`;
  if (abs >= 1e6) return `${fmtNumber(value / 1e6, 2)}M`;
  if (abs >= 1e3) return `${fmtNumber(value / 1e3, 2)}k`;
  return fmtNumber(value, 2);
}
