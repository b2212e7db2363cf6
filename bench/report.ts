/** One measured figure of a benchmark, for the anchor and for shoal. */
export interface Row {
  metric: string;
  anchor: number;
  shoal: number;
  /** Unit shown after the figures. */
  unit: string;
}

/** Prints the side-by-side table with the ratio shoal/anchor per row. */
export function printTable(title: string, anchorName: string, rows: Row[]): void {
  const head = ['metric', anchorName, 'shoal', 'shoal/' + anchorName];
  const body = rows.map((r) => [
    `${r.metric} (${r.unit})`,
    formatNumber(r.anchor),
    formatNumber(r.shoal),
    r.anchor === 0 ? '-' : (r.shoal / r.anchor).toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  process.stdout.write(`\n${title}\n${line(head)}\n${body.map(line).join('\n')}\n`);
}

/** The one-line summary `name [label ]shoal/anchor = 1.07`, e.g. label `2 threads` or `SHOAL_NATIVE=0`. */
export function formatSummary(name: string, anchorName: string, anchor: number, shoal: number, label?: string): string {
  const ratio = anchor === 0 ? NaN : shoal / anchor;
  return `${name}${label ? ` ${label}` : ''} shoal/${anchorName} = ${ratio.toFixed(2)}`;
}

/** Prints the one-line summary `name [label ]shoal/anchor = 1.07`. */
export function printSummary(name: string, anchorName: string, anchor: number, shoal: number, label?: string): void {
  process.stdout.write(`${formatSummary(name, anchorName, anchor, shoal, label)}\n`);
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(2);
}
