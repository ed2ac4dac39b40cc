// Hand-written versions of the tiny functions of bench/tiny/*.expr, each twice:
//   - flat(x, g, inputs): params flat in x (declaration order), the gradient written into g,
//     the value returned: the convention of optimizer libraries, no allocation;
//   - struct(...): points as {x, y} (or {x, y, z}) objects, returning the value and one new
//     object per param's gradient, as struct-based gradient generators write it.
// With each, the point it is timed at (params as in the .expr, inputs) and how to turn the
// struct result into flat numbers for the correctness check.

const P = (x, y) => ({ x, y });
const P3 = (x, y, z) => ({ x, y, z });

export const FUNCTIONS = [
  {
    name: 'distance',
    title: 'distance of two points',
    params: { p: [0.3, -1.2], q: [2.1, 0.4] },
    inputs: {},
    flat(x, g) {
      const dx = x[0] - x[2];
      const dy = x[1] - x[3];
      const d = Math.sqrt(dx * dx + dy * dy);
      const gx = dx / d;
      const gy = dy / d;
      g[0] = gx;
      g[1] = gy;
      g[2] = -gx;
      g[3] = -gy;
      return d;
    },
    structArgs: () => [P(0.3, -1.2), P(2.1, 0.4)],
    struct(p, q) {
      const dx = p.x - q.x;
      const dy = p.y - q.y;
      const d = Math.sqrt(dx * dx + dy * dy);
      return { value: d, dp: { x: dx / d, y: dy / d }, dq: { x: -dx / d, y: -dy / d } };
    },
    structFlat: (r) => [r.dp.x, r.dp.y, r.dq.x, r.dq.y],
  },
  {
    name: 'triangle-area',
    title: 'signed area of a triangle',
    params: { a: [1.2, 2.1], b: [4.3, 3.2], c: [2.1, 7.4] },
    inputs: {},
    flat(x, g) {
      const ex = x[2] - x[0];
      const ey = x[3] - x[1];
      const fx = x[4] - x[0];
      const fy = x[5] - x[1];
      g[0] = 0.5 * (ey - fy);
      g[1] = 0.5 * (fx - ex);
      g[2] = 0.5 * fy;
      g[3] = -0.5 * fx;
      g[4] = -0.5 * ey;
      g[5] = 0.5 * ex;
      return 0.5 * (ex * fy - fx * ey);
    },
    structArgs: () => [P(1.2, 2.1), P(4.3, 3.2), P(2.1, 7.4)],
    struct(a, b, c) {
      const ex = b.x - a.x;
      const ey = b.y - a.y;
      const fx = c.x - a.x;
      const fy = c.y - a.y;
      return {
        value: 0.5 * (ex * fy - fx * ey),
        da: { x: 0.5 * (ey - fy), y: 0.5 * (fx - ex) },
        db: { x: 0.5 * fy, y: -0.5 * fx },
        dc: { x: -0.5 * ey, y: 0.5 * ex },
      };
    },
    structFlat: (r) => [r.da.x, r.da.y, r.db.x, r.db.y, r.dc.x, r.dc.y],
  },
  {
    name: 'angle',
    title: 'signed angle of two vectors',
    params: { u: [1.2, 0.3], v: [-0.4, 0.9] },
    inputs: {},
    flat(x, g) {
      const ux = x[0];
      const uy = x[1];
      const vx = x[2];
      const vy = x[3];
      const c = ux * vy - uy * vx;
      const d = ux * vx + uy * vy;
      const r = c * c + d * d;
      const ac = d / r;
      const ad = -c / r;
      g[0] = ac * vy + ad * vx;
      g[1] = -ac * vx + ad * vy;
      g[2] = -ac * uy + ad * ux;
      g[3] = ac * ux + ad * uy;
      return Math.atan2(c, d);
    },
    structArgs: () => [P(1.2, 0.3), P(-0.4, 0.9)],
    struct(u, v) {
      const c = u.x * v.y - u.y * v.x;
      const d = u.x * v.x + u.y * v.y;
      const r = c * c + d * d;
      const ac = d / r;
      const ad = -c / r;
      return {
        value: Math.atan2(c, d),
        du: { x: ac * v.y + ad * v.x, y: -ac * v.x + ad * v.y },
        dv: { x: -ac * u.y + ad * u.x, y: ac * u.x + ad * u.y },
      };
    },
    structFlat: (r) => [r.du.x, r.du.y, r.dv.x, r.dv.y],
  },
  {
    name: 'point-segment',
    title: 'distance of a point to a segment',
    params: { p: [0.7, 1.3], a: [-1, 0.2], b: [2, -0.4] },
    inputs: {},
    flat(x, g) {
      const ex = x[4] - x[2];
      const ey = x[5] - x[3];
      const wx = x[0] - x[2];
      const wy = x[1] - x[3];
      const t = Math.max(0, Math.min(1, (wx * ex + wy * ey) / (ex * ex + ey * ey)));
      const rx = wx - t * ex;
      const ry = wy - t * ey;
      const d = Math.sqrt(rx * rx + ry * ry);
      // The distance to the nearest point a + t e: t's own dependence drops out (at an end
      // t is constant, inside the segment the residual is orthogonal to e).
      const nx = rx / d;
      const ny = ry / d;
      g[0] = nx;
      g[1] = ny;
      g[4] = -t * nx;
      g[5] = -t * ny;
      g[2] = (t - 1) * nx;
      g[3] = (t - 1) * ny;
      return d;
    },
    structArgs: () => [P(0.7, 1.3), P(-1, 0.2), P(2, -0.4)],
    struct(p, a, b) {
      const ex = b.x - a.x;
      const ey = b.y - a.y;
      const wx = p.x - a.x;
      const wy = p.y - a.y;
      const t = Math.max(0, Math.min(1, (wx * ex + wy * ey) / (ex * ex + ey * ey)));
      const rx = wx - t * ex;
      const ry = wy - t * ey;
      const d = Math.sqrt(rx * rx + ry * ry);
      const nx = rx / d;
      const ny = ry / d;
      return { value: d, dp: { x: nx, y: ny }, da: { x: (t - 1) * nx, y: (t - 1) * ny }, db: { x: -t * nx, y: -t * ny } };
    },
    structFlat: (r) => [r.dp.x, r.dp.y, r.da.x, r.da.y, r.db.x, r.db.y],
  },
  {
    name: 'circle-residual',
    title: 'circle fit residual',
    params: { c: [0.1, -0.2], r: 1.3 },
    inputs: { q: [1.2, 0.5] },
    flat(x, g, inputs) {
      const q = inputs.q;
      const dx = q[0] - x[0];
      const dy = q[1] - x[1];
      const l = Math.sqrt(dx * dx + dy * dy);
      const e = l - x[2];
      const s = (2 * e) / l;
      g[0] = -s * dx;
      g[1] = -s * dy;
      g[2] = -2 * e;
      return e * e;
    },
    structArgs: () => [P(0.1, -0.2), 1.3, P(1.2, 0.5)],
    struct(c, r, q) {
      const dx = q.x - c.x;
      const dy = q.y - c.y;
      const l = Math.sqrt(dx * dx + dy * dy);
      const e = l - r;
      const s = (2 * e) / l;
      return { value: e * e, dc: { x: -s * dx, y: -s * dy }, dr: -2 * e };
    },
    structFlat: (r) => [r.dc.x, r.dc.y, r.dr],
  },
  {
    name: 'reprojection',
    title: 'reprojection error (pinhole)',
    params: { X: [0.3, -0.2, 4.1], f: 1.7 },
    inputs: { uv: [0.15, -0.05] },
    flat(x, g, inputs) {
      const uv = inputs.uv;
      const iz = 1 / x[2];
      const u = x[3] * x[0] * iz;
      const v = x[3] * x[1] * iz;
      const eu = u - uv[0];
      const ev = v - uv[1];
      g[0] = 2 * eu * x[3] * iz;
      g[1] = 2 * ev * x[3] * iz;
      g[2] = -2 * (eu * u + ev * v) * iz;
      g[3] = 2 * (eu * x[0] + ev * x[1]) * iz;
      return eu * eu + ev * ev;
    },
    structArgs: () => [P3(0.3, -0.2, 4.1), 1.7, P(0.15, -0.05)],
    struct(X, f, uv) {
      const iz = 1 / X.z;
      const u = f * X.x * iz;
      const v = f * X.y * iz;
      const eu = u - uv.x;
      const ev = v - uv.y;
      return {
        value: eu * eu + ev * ev,
        dX: { x: 2 * eu * f * iz, y: 2 * ev * f * iz, z: -2 * (eu * u + ev * v) * iz },
        df: 2 * (eu * X.x + ev * X.y) * iz,
      };
    },
    structFlat: (r) => [r.dX.x, r.dX.y, r.dX.z, r.df],
  },
  {
    name: 'rod',
    title: 'rod constraint (3D)',
    params: { p: [0.1, 0.9, -0.3], q: [1.1, 0.2, 0.4] },
    inputs: { L: 1 },
    flat(x, g, inputs) {
      const dx = x[0] - x[3];
      const dy = x[1] - x[4];
      const dz = x[2] - x[5];
      const l = Math.sqrt(dx * dx + dy * dy + dz * dz);
      const nx = dx / l;
      const ny = dy / l;
      const nz = dz / l;
      g[0] = nx;
      g[1] = ny;
      g[2] = nz;
      g[3] = -nx;
      g[4] = -ny;
      g[5] = -nz;
      return l - inputs.L;
    },
    structArgs: () => [P3(0.1, 0.9, -0.3), P3(1.1, 0.2, 0.4), 1],
    struct(p, q, L) {
      const dx = p.x - q.x;
      const dy = p.y - q.y;
      const dz = p.z - q.z;
      const l = Math.sqrt(dx * dx + dy * dy + dz * dz);
      return { value: l - L, dp: { x: dx / l, y: dy / l, z: dz / l }, dq: { x: -dx / l, y: -dy / l, z: -dz / l } };
    },
    structFlat: (r) => [r.dp.x, r.dp.y, r.dp.z, r.dq.x, r.dq.y, r.dq.z],
  },
  {
    name: 'bend',
    title: 'angle constraint',
    params: { a: [-1, 0.2], b: [0, 0], c: [0.8, 0.9] },
    inputs: { rest: 2 },
    flat(x, g, inputs) {
      const ux = x[0] - x[2];
      const uy = x[1] - x[3];
      const vx = x[4] - x[2];
      const vy = x[5] - x[3];
      const c = ux * vy - uy * vx;
      const d = ux * vx + uy * vy;
      const r = c * c + d * d;
      const ac = d / r;
      const ad = -c / r;
      const gux = ac * vy + ad * vx;
      const guy = -ac * vx + ad * vy;
      const gvx = -ac * uy + ad * ux;
      const gvy = ac * ux + ad * uy;
      g[0] = gux;
      g[1] = guy;
      g[2] = -gux - gvx;
      g[3] = -guy - gvy;
      g[4] = gvx;
      g[5] = gvy;
      return Math.atan2(c, d) - inputs.rest;
    },
    structArgs: () => [P(-1, 0.2), P(0, 0), P(0.8, 0.9), 2],
    struct(a, b, cc, rest) {
      const ux = a.x - b.x;
      const uy = a.y - b.y;
      const vx = cc.x - b.x;
      const vy = cc.y - b.y;
      const c = ux * vy - uy * vx;
      const d = ux * vx + uy * vy;
      const r = c * c + d * d;
      const ac = d / r;
      const ad = -c / r;
      const gu = { x: ac * vy + ad * vx, y: -ac * vx + ad * vy };
      const gv = { x: -ac * uy + ad * ux, y: ac * ux + ad * uy };
      return { value: Math.atan2(c, d) - rest, da: gu, db: { x: -gu.x - gv.x, y: -gu.y - gv.y }, dc: gv };
    },
    structFlat: (r) => [r.da.x, r.da.y, r.db.x, r.db.y, r.dc.x, r.dc.y],
  },
  {
    name: 'spring',
    title: 'spring energy (3D)',
    params: { p: [0.1, 0.9, -0.3], q: [1.1, 0.2, 0.4] },
    inputs: { k: 40, L: 1 },
    flat(x, g, inputs) {
      const dx = x[0] - x[3];
      const dy = x[1] - x[4];
      const dz = x[2] - x[5];
      const l = Math.sqrt(dx * dx + dy * dy + dz * dz);
      const e = l - inputs.L;
      const s = (inputs.k * e) / l;
      g[0] = s * dx;
      g[1] = s * dy;
      g[2] = s * dz;
      g[3] = -s * dx;
      g[4] = -s * dy;
      g[5] = -s * dz;
      return 0.5 * inputs.k * e * e;
    },
    structArgs: () => [P3(0.1, 0.9, -0.3), P3(1.1, 0.2, 0.4), 40, 1],
    struct(p, q, k, L) {
      const dx = p.x - q.x;
      const dy = p.y - q.y;
      const dz = p.z - q.z;
      const l = Math.sqrt(dx * dx + dy * dy + dz * dz);
      const e = l - L;
      const s = (k * e) / l;
      return { value: 0.5 * k * e * e, dp: { x: s * dx, y: s * dy, z: s * dz }, dq: { x: -s * dx, y: -s * dy, z: -s * dz } };
    },
    structFlat: (r) => [r.dp.x, r.dp.y, r.dp.z, r.dq.x, r.dq.y, r.dq.z],
  },
  {
    name: 'triangle-area-3d',
    title: 'area of a triangle (3D)',
    params: { a: [0, 0.1, 0.2], b: [1.1, 0.3, -0.2], c: [0.2, 0.9, 0.5] },
    inputs: {},
    flat(x, g) {
      const ex = x[3] - x[0];
      const ey = x[4] - x[1];
      const ez = x[5] - x[2];
      const fx = x[6] - x[0];
      const fy = x[7] - x[1];
      const fz = x[8] - x[2];
      const nx = ey * fz - ez * fy;
      const ny = ez * fx - ex * fz;
      const nz = ex * fy - ey * fx;
      const l = Math.sqrt(nx * nx + ny * ny + nz * nz);
      const s = 0.5 / l;
      // d|n|/de = f x n / |n|, d|n|/df = n x e / |n|.
      const bx = s * (fy * nz - fz * ny);
      const by = s * (fz * nx - fx * nz);
      const bz = s * (fx * ny - fy * nx);
      const cx = s * (ny * ez - nz * ey);
      const cy = s * (nz * ex - nx * ez);
      const cz = s * (nx * ey - ny * ex);
      g[0] = -bx - cx;
      g[1] = -by - cy;
      g[2] = -bz - cz;
      g[3] = bx;
      g[4] = by;
      g[5] = bz;
      g[6] = cx;
      g[7] = cy;
      g[8] = cz;
      return 0.5 * l;
    },
    structArgs: () => [P3(0, 0.1, 0.2), P3(1.1, 0.3, -0.2), P3(0.2, 0.9, 0.5)],
    struct(a, b, c) {
      const ex = b.x - a.x;
      const ey = b.y - a.y;
      const ez = b.z - a.z;
      const fx = c.x - a.x;
      const fy = c.y - a.y;
      const fz = c.z - a.z;
      const nx = ey * fz - ez * fy;
      const ny = ez * fx - ex * fz;
      const nz = ex * fy - ey * fx;
      const l = Math.sqrt(nx * nx + ny * ny + nz * nz);
      const s = 0.5 / l;
      const db = { x: s * (fy * nz - fz * ny), y: s * (fz * nx - fx * nz), z: s * (fx * ny - fy * nx) };
      const dc = { x: s * (ny * ez - nz * ey), y: s * (nz * ex - nx * ez), z: s * (nx * ey - ny * ex) };
      return { value: 0.5 * l, da: { x: -db.x - dc.x, y: -db.y - dc.y, z: -db.z - dc.z }, db, dc };
    },
    structFlat: (r) => [r.da.x, r.da.y, r.da.z, r.db.x, r.db.y, r.db.z, r.dc.x, r.dc.y, r.dc.z],
  },
  {
    name: 'rosenbrock2',
    title: 'Rosenbrock (2 variables)',
    params: { x: [-1.2, 1] },
    inputs: {},
    flat(x, g) {
      const a = 1 - x[0];
      const b = x[1] - x[0] * x[0];
      g[0] = -2 * a - 400 * b * x[0];
      g[1] = 200 * b;
      return a * a + 100 * b * b;
    },
    structArgs: () => [P(-1.2, 1)],
    struct(p) {
      const a = 1 - p.x;
      const b = p.y - p.x * p.x;
      return { value: a * a + 100 * b * b, dp: { x: -2 * a - 400 * b * p.x, y: 200 * b } };
    },
    structFlat: (r) => [r.dp.x, r.dp.y],
  },
  {
    name: 'gaussian',
    title: 'Gaussian bump',
    params: { mu: [0.2, -0.1], s: 0.8 },
    inputs: { q: [0.5, 0.4] },
    flat(x, g, inputs) {
      const q = inputs.q;
      const dx = q[0] - x[0];
      const dy = q[1] - x[1];
      const s = x[2];
      const is2 = 1 / (s * s);
      const r2 = dx * dx + dy * dy;
      const v = Math.exp(-0.5 * r2 * is2);
      g[0] = v * dx * is2;
      g[1] = v * dy * is2;
      g[2] = (v * r2 * is2) / s;
      return v;
    },
    structArgs: () => [P(0.2, -0.1), 0.8, P(0.5, 0.4)],
    struct(mu, s, q) {
      const dx = q.x - mu.x;
      const dy = q.y - mu.y;
      const is2 = 1 / (s * s);
      const r2 = dx * dx + dy * dy;
      const v = Math.exp(-0.5 * r2 * is2);
      return { value: v, dmu: { x: v * dx * is2, y: v * dy * is2 }, ds: (v * r2 * is2) / s };
    },
    structFlat: (r) => [r.dmu.x, r.dmu.y, r.ds],
  },
  {
    name: 'rigid2d',
    title: '2D rigid alignment residual',
    params: { theta: 0.3, t: [0.5, -0.2] },
    inputs: { p: [1, 2], q: [0.8, 1.7] },
    flat(x, g, inputs) {
      const p = inputs.p;
      const q = inputs.q;
      const c = Math.cos(x[0]);
      const s = Math.sin(x[0]);
      const r0 = c * p[0] - s * p[1] + x[1] - q[0];
      const r1 = s * p[0] + c * p[1] + x[2] - q[1];
      g[0] = 2 * (r0 * (-s * p[0] - c * p[1]) + r1 * (c * p[0] - s * p[1]));
      g[1] = 2 * r0;
      g[2] = 2 * r1;
      return r0 * r0 + r1 * r1;
    },
    structArgs: () => [0.3, P(0.5, -0.2), P(1, 2), P(0.8, 1.7)],
    struct(theta, t, p, q) {
      const c = Math.cos(theta);
      const s = Math.sin(theta);
      const r0 = c * p.x - s * p.y + t.x - q.x;
      const r1 = s * p.x + c * p.y + t.y - q.y;
      return {
        value: r0 * r0 + r1 * r1,
        dtheta: 2 * (r0 * (-s * p.x - c * p.y) + r1 * (c * p.x - s * p.y)),
        dt: { x: 2 * r0, y: 2 * r1 },
      };
    },
    structFlat: (r) => [r.dtheta, r.dt.x, r.dt.y],
  },
];

// The point-segment distance again, with t's vanishing derivative stated in the source as a gate
// (point-segment-gate.expr): what a user who knows the envelope theorem writes, timed against
// the same hand-written functions.
const segment = FUNCTIONS.findIndex((f) => f.name === 'point-segment');
FUNCTIONS.splice(segment + 1, 0, { ...FUNCTIONS[segment], name: 'point-segment-gate', title: 'point to segment, as a gate' });
