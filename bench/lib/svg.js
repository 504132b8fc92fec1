// A small SVG writer for the suite's chart: horizontal bar panels, one bar per server, with
// optional min-max whiskers and the value printed at the end of each bar. The axis is linear from
// zero, unless the values span more than 20x (req/s runs from 70 to 20,000 here: on a linear axis
// the fork servers would be slivers): then it is logarithmic, and the panel says so. No dependencies.
//
//   chart({ title, subtitle, panels: [{ title, unit, rows: [{ label, value, min, max, color }] }] })
//     -> an SVG document (string)
'use strict';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (v) => (v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const tick = (v) => (v === 0 ? '0' : v >= 1 ? String(+v.toPrecision(6)) : String(+v.toPrecision(2)));

const WIDTH = 960;
const LABEL_W = 350;
const PLOT_W = WIDTH - LABEL_W - 90;
const BAR_H = 16;
const ROW_H = 22;

function panel(p, y0) {
  const rows = p.rows.filter((r) => Number.isFinite(r.value) && r.value > 0);
  const parts = [];
  parts.push(`<text x="12" y="${y0 + 18}" class="panel">${esc(p.title)}</text>`);
  if (!rows.length) {
    parts.push(`<text x="${LABEL_W}" y="${y0 + 44}" class="note">no data</text>`);
    return { svg: parts.join('\n'), height: 64 };
  }
  const values = rows.flatMap((r) => [r.value, r.min, r.max]).filter((v) => Number.isFinite(v) && v > 0);
  const vmin = Math.min(...values);
  const vmax = Math.max(...values);
  const log = vmax / vmin > 20;
  const top = y0 + 30;
  const plotH = rows.length * ROW_H;
  let x;
  const ticks = [];
  if (log) {
    const lo = Math.pow(10, Math.floor(Math.log10(vmin)));
    const hi = Math.pow(10, Math.ceil(Math.log10(vmax * 1.05)));
    x = (v) => LABEL_W + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PLOT_W;
    for (let d = lo; d <= hi; d *= 10) {
      for (const m of [1, 2, 5]) if (d * m <= hi) ticks.push({ v: d * m, major: m === 1, label: m === 1 || hi / lo <= 100 });
    }
  } else {
    const raw = (vmax * 1.05) / 5;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((k) => k >= raw);
    const hi = Math.ceil((vmax * 1.05) / step) * step;
    x = (v) => LABEL_W + (Math.max(0, v) / hi) * PLOT_W;
    for (let v = 0; v <= hi + step / 2; v += step) ticks.push({ v, major: true, label: true });
  }
  for (const t of ticks) {
    const gx = x(t.v).toFixed(1);
    parts.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${top + plotH}" class="${t.major ? 'grid' : 'grid minor'}"/>`);
    if (t.label) parts.push(`<text x="${gx}" y="${top + plotH + 14}" class="tick">${tick(t.v)}</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * ROW_H;
    const w = Math.max(1, x(r.value) - LABEL_W);
    parts.push(`<text x="${LABEL_W - 8}" y="${y + BAR_H - 4}" class="label">${esc(r.label)}</text>`);
    parts.push(`<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${r.color || '#4878a8'}"><title>${esc(`${r.label}: ${fmt(r.value)} ${p.unit}`)}</title></rect>`);
    let end = x(r.value);
    if (Number.isFinite(r.min) && Number.isFinite(r.max) && r.max > r.min) {
      const a = x(r.min).toFixed(1);
      const b = x(r.max).toFixed(1);
      const my = y + BAR_H / 2;
      parts.push(`<line x1="${a}" y1="${my}" x2="${b}" y2="${my}" class="whisker"/>`);
      parts.push(`<line x1="${a}" y1="${my - 5}" x2="${a}" y2="${my + 5}" class="whisker"/>`);
      parts.push(`<line x1="${b}" y1="${my - 5}" x2="${b}" y2="${my + 5}" class="whisker"/>`);
      end = Math.max(end, x(r.max));
    }
    parts.push(`<text x="${(end + 6).toFixed(1)}" y="${y + BAR_H - 4}" class="value">${fmt(r.value)}${r.suffix ? ` ${esc(r.suffix)}` : ''}</text>`);
  });
  parts.push(`<text x="${LABEL_W + PLOT_W / 2}" y="${top + plotH + 30}" class="axis">${esc(p.unit)}${log ? ' (log scale)' : ''}</text>`);
  return { svg: parts.join('\n'), height: 30 + plotH + 44 };
}

function chart({ title, subtitle, panels }) {
  let y = subtitle ? 56 : 40;
  const bodies = [];
  for (const p of panels) {
    const r = panel(p, y);
    bodies.push(r.svg);
    y += r.height + 10;
  }
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="Helvetica, Arial, sans-serif">
<style>
  .title { font-size: 17px; font-weight: bold; }
  .subtitle { font-size: 12px; fill: #555; }
  .panel { font-size: 14px; font-weight: bold; }
  .label { font-size: 12px; text-anchor: end; }
  .value { font-size: 11px; fill: #222; }
  .tick { font-size: 10px; fill: #666; text-anchor: middle; }
  .axis { font-size: 11px; fill: #444; text-anchor: middle; }
  .note { font-size: 12px; fill: #a00; }
  .grid { stroke: #ccc; stroke-width: 1; }
  .grid.minor { stroke: #eee; }
  .whisker { stroke: #111; stroke-width: 1.5; }
</style>
<rect x="0" y="0" width="${WIDTH}" height="${y}" fill="#fff"/>
<text x="12" y="26" class="title">${esc(title)}</text>
${subtitle ? `<text x="12" y="44" class="subtitle">${esc(subtitle)}</text>` : ''}
${bodies.join('\n')}
</svg>
`;
}

module.exports = { chart };
