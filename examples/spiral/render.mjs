// Pictures of a trained classifier: its decision regions (a coarse raster of
// the plane, each row run-length merged into rects) with the training points
// on top, as hand-written SVG; PNG copies when a real SVG renderer is on PATH.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

const POINT = ["#c62828", "#2e7d32", "#1565c0"]; // class colours: red, green, blue
const REGION = ["#f6c4c0", "#c4e6c4", "#bcd6f2"]; // the same, pale

function escapeXml(s) {
  return String(s).replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]);
}

/**
 * SVG text: the regions of predict(x0, x1) -> class over a square around the
 * data (cells x cells raster), the points of `data` as circles, and a title.
 */
export function decisionSvg({ predict, data, title, subtitle = "", cells = 160, size = 480 }) {
  let extent = 0;
  for (let i = 0; i < data.X.length; i++) extent = Math.max(extent, Math.abs(data.X[i]));
  extent += 0.25; // the plot shows [-extent, extent] on both axes
  const top = subtitle ? 58 : 40, pad = 10;
  const width = size + 2 * pad, height = size + top + pad;
  const cell = size / cells;
  const px = (x) => pad + ((x + extent) / (2 * extent)) * size; // data -> SVG coordinates
  const py = (y) => top + ((extent - y) / (2 * extent)) * size; // SVG y grows downwards
  const f = (v) => +v.toFixed(2);

  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  if (subtitle) out.push(`<text x="${width / 2}" y="44" text-anchor="middle" font-size="12" fill="#444">${escapeXml(subtitle)}</text>`);

  // Decision regions: classify each cell's centre; merge runs of equal class in a row.
  out.push(`<g shape-rendering="crispEdges">`);
  for (let r = 0; r < cells; r++) {
    const y = extent - ((r + 0.5) / cells) * 2 * extent;
    let start = 0, cls = predict(-extent + (0.5 / cells) * 2 * extent, y);
    for (let c = 1; c <= cells; c++) {
      const next = c < cells ? predict(-extent + ((c + 0.5) / cells) * 2 * extent, y) : -1;
      if (next !== cls) {
        out.push(`<rect x="${f(pad + start * cell)}" y="${f(top + r * cell)}" width="${f((c - start) * cell)}" height="${f(cell)}" fill="${REGION[cls]}"/>`);
        start = c;
        cls = next;
      }
    }
  }
  out.push(`</g>`);

  // Axes through the origin, and the frame.
  out.push(`<g stroke="#00000033" stroke-width="1">`);
  out.push(`<line x1="${f(px(-extent))}" y1="${f(py(0))}" x2="${f(px(extent))}" y2="${f(py(0))}"/>`);
  out.push(`<line x1="${f(px(0))}" y1="${f(py(-extent))}" x2="${f(px(0))}" y2="${f(py(extent))}"/>`);
  out.push(`</g>`);
  out.push(`<rect x="${pad}" y="${top}" width="${size}" height="${size}" fill="none" stroke="#888"/>`);

  // The training points.
  out.push(`<g stroke="#000" stroke-width="0.7">`);
  for (let i = 0; i < data.count; i++) {
    const x = data.X[i * data.D], y = data.X[i * data.D + 1];
    out.push(`<circle cx="${f(px(x))}" cy="${f(py(y))}" r="3.6" fill="${POINT[data.labels[i]]}"/>`);
  }
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

function run(cmd, args) {
  try {
    return spawnSync(cmd, args, { encoding: "utf8", timeout: 30000 });
  } catch {
    return { status: null, stdout: "", stderr: "" };
  }
}

/**
 * A real SVG -> PNG converter on PATH, or null: rsvg-convert, or ImageMagick
 * (`magick`, or `convert` whose -version says "Version: ImageMagick"; a
 * `convert` that merely mentions ImageMagick is not it).
 */
export function findPngRenderer() {
  const rsvg = run("rsvg-convert", ["--version"]);
  if (rsvg.status === 0 && /rsvg/i.test(rsvg.stdout + rsvg.stderr)) {
    return { name: "rsvg-convert", args: (svg, png) => ["-o", png, svg] };
  }
  for (const cmd of ["magick", "convert"]) {
    const r = run(cmd, ["-version"]);
    if (r.status === 0 && /^Version: ImageMagick/m.test(r.stdout)) {
      return { name: cmd, args: (svg, png) => [svg, png] };
    }
  }
  return null;
}

/** Converts svg -> png with the renderer; true when a real PNG was written. */
export function svgToPng(renderer, svgPath, pngPath) {
  const r = run(renderer.name, renderer.args(svgPath, pngPath));
  if (r.status !== 0 || !existsSync(pngPath)) return false;
  const head = readFileSync(pngPath).subarray(0, 8);
  return head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
}
