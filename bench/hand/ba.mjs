// Hand-written reference for examples/ba/ba.expr (ADBench's bundle adjustment, the whole
// problem in one call), as an expert would write it: the generated-module contract, one loop
// over the observations that projects, takes the residual and runs its reverse pass at once,
// adding each observation's gradient into its camera's and point's rows; no allocation per
// call. The examples' tests use it as the value to match; bench/ba.mjs times against it.
import { tensorArg, seedOf } from './shared.mjs';

/** ADBench's first problem (ba1): 49 cameras, 7,776 points, 31,843 observations. */
export const BA1 = { C: 49, M: 7776, P: 31843 };

/** Rotations with a squared angle at or below this use the first-order form X + r x X. */
const SMALL = 1e-30;

/**
 * A module for C cameras, M points and P observations. Args: obs (P x 2 integers: camera,
 * point), feat (P x 2), cams (C x 11), pts (M x 3), w (P); one output, err.
 */
export function makeBundleAdjustment({ C, M, P }) {
  function check(args) {
    const obs = tensorArg(args.obs, 'obs', 2 * P);
    tensorArg(args.feat, 'feat', 2 * P);
    tensorArg(args.cams, 'cams', 11 * C);
    tensorArg(args.pts, 'pts', 3 * M);
    tensorArg(args.w, 'w', P);
    for (let i = 0; i < P; i++) {
      const c = obs[2 * i];
      const m = obs[2 * i + 1];
      if (!(Number.isInteger(c) && c >= 0 && c < C)) throw new RangeError(`'obs' element [${i}, 0] is ${c}, out of range 0..${C - 1}`);
      if (!(Number.isInteger(m) && m >= 0 && m < M)) throw new RangeError(`'obs' element [${i}, 1] is ${m}, out of range 0..${M - 1}`);
    }
  }

  // One observation's forward and (when g is given) reverse pass. Returns its squared residual.
  function observation(args, i, g, grad) {
    const { obs, feat, cams, pts, w } = args;
    const c0 = 11 * obs[2 * i];
    const x0 = 3 * obs[2 * i + 1];
    const r0 = cams[c0];
    const r1 = cams[c0 + 1];
    const r2 = cams[c0 + 2];
    const d0 = pts[x0] - cams[c0 + 3];
    const d1 = pts[x0 + 1] - cams[c0 + 4];
    const d2 = pts[x0 + 2] - cams[c0 + 5];
    const th2 = r0 * r0 + r1 * r1 + r2 * r2;
    const big = th2 > SMALL;
    let th = 0, ct = 1, st = 0, k0 = 0, k1 = 0, k2 = 0, kd = 0;
    let c0x = 0, c1x = 0, c2x = 0; // k x D (or r x D for small angles)
    let y0, y1, y2;
    if (big) {
      th = Math.sqrt(th2);
      ct = Math.cos(th);
      st = Math.sin(th);
      k0 = r0 / th;
      k1 = r1 / th;
      k2 = r2 / th;
      c0x = k1 * d2 - k2 * d1;
      c1x = k2 * d0 - k0 * d2;
      c2x = k0 * d1 - k1 * d0;
      kd = k0 * d0 + k1 * d1 + k2 * d2;
      const t = kd * (1 - ct);
      y0 = d0 * ct + c0x * st + k0 * t;
      y1 = d1 * ct + c1x * st + k1 * t;
      y2 = d2 * ct + c2x * st + k2 * t;
    } else {
      c0x = r1 * d2 - r2 * d1;
      c1x = r2 * d0 - r0 * d2;
      c2x = r0 * d1 - r1 * d0;
      y0 = d0 + c0x;
      y1 = d1 + c1x;
      y2 = d2 + c2x;
    }
    const p0 = y0 / y2;
    const p1 = y1 / y2;
    const rs = p0 * p0 + p1 * p1;
    const dk1 = cams[c0 + 9];
    const dk2 = cams[c0 + 10];
    const L = 1 + dk1 * rs + dk2 * rs * rs;
    const f = cams[c0 + 6];
    const wi = w[i];
    const e0 = p0 * L * f + cams[c0 + 7] - feat[2 * i];
    const e1 = p1 * L * f + cams[c0 + 8] - feat[2 * i + 1];
    const res0 = wi * e0;
    const res1 = wi * e1;
    if (g === undefined) return res0 * res0 + res1 * res1;

    const gc = grad.cams;
    const gx = grad.pts;
    const gr0 = 2 * g * res0;
    const gr1 = 2 * g * res1;
    grad.w[i] += gr0 * e0 + gr1 * e1;
    const gq0 = wi * gr0;
    const gq1 = wi * gr1;
    gc[c0 + 7] += gq0;
    gc[c0 + 8] += gq1;
    gc[c0 + 6] += (gq0 * p0 + gq1 * p1) * L;
    const gl0 = gq0 * f; // upstream of p * L
    const gl1 = gq1 * f;
    const gL = gl0 * p0 + gl1 * p1;
    gc[c0 + 9] += gL * rs;
    gc[c0 + 10] += gL * rs * rs;
    const gs = gL * (dk1 + 2 * dk2 * rs) * 2; // times p: d L / d p
    const gp0 = gl0 * L + gs * p0;
    const gp1 = gl1 * L + gs * p1;
    const gy0 = gp0 / y2;
    const gy1 = gp1 / y2;
    const gy2 = -(gp0 * p0 + gp1 * p1) / y2;
    let gd0, gd1, gd2;
    if (big) {
      // Y = D ct + (k x D) st + k (k.D)(1 - ct)
      const gk = gy0 * k0 + gy1 * k1 + gy2 * k2;
      const one = 1 - ct;
      gd0 = gy0 * ct + st * (gy1 * k2 - gy2 * k1) + one * gk * k0;
      gd1 = gy1 * ct + st * (gy2 * k0 - gy0 * k2) + one * gk * k1;
      gd2 = gy2 * ct + st * (gy0 * k1 - gy1 * k0) + one * gk * k2;
      let gk0 = st * (d1 * gy2 - d2 * gy1) + one * (kd * gy0 + gk * d0);
      let gk1 = st * (d2 * gy0 - d0 * gy2) + one * (kd * gy1 + gk * d1);
      let gk2 = st * (d0 * gy1 - d1 * gy0) + one * (kd * gy2 + gk * d2);
      const gct = gy0 * d0 + gy1 * d1 + gy2 * d2 - gk * kd;
      const gst = gy0 * c0x + gy1 * c1x + gy2 * c2x;
      // k = r / th, th = |r|
      const gth = -st * gct + ct * gst - (gk0 * k0 + gk1 * k1 + gk2 * k2) / th;
      gc[c0] += gk0 / th + gth * k0;
      gc[c0 + 1] += gk1 / th + gth * k1;
      gc[c0 + 2] += gk2 / th + gth * k2;
    } else {
      // Y = D + r x D
      gd0 = gy0 + (gy1 * r2 - gy2 * r1);
      gd1 = gy1 + (gy2 * r0 - gy0 * r2);
      gd2 = gy2 + (gy0 * r1 - gy1 * r0);
      gc[c0] += d1 * gy2 - d2 * gy1;
      gc[c0 + 1] += d2 * gy0 - d0 * gy2;
      gc[c0 + 2] += d0 * gy1 - d1 * gy0;
    }
    gx[x0] += gd0;
    gx[x0 + 1] += gd1;
    gx[x0 + 2] += gd2;
    gc[c0 + 3] -= gd0;
    gc[c0 + 4] -= gd1;
    gc[c0 + 5] -= gd2;
    return res0 * res0 + res1 * res1;
  }

  function objective(args, g, grad) {
    const w = args.w;
    let err = 0;
    for (let i = 0; i < P; i++) {
      err += observation(args, i, g, grad);
      const u = 1 - w[i] * w[i];
      err += u * u;
      if (g !== undefined) grad.w[i] += -4 * g * u * w[i];
    }
    return err;
  }

  const createOutputs = () => ({ err: NaN });
  const createGrad = () => ({ cams: new Float64Array(11 * C), pts: new Float64Array(3 * M), w: new Float64Array(P) });
  function forwardInto(args, outputs) {
    check(args);
    outputs.err = objective(args);
    return outputs;
  }
  function backwardInto(args, seed, grad, outputs) {
    check(args);
    const g = seedOf(seed, 'err');
    grad.cams.fill(0);
    grad.pts.fill(0);
    grad.w.fill(0);
    const err = g === undefined ? objective(args) : objective(args, g, grad);
    if (outputs !== undefined) outputs.err = err;
    return grad;
  }
  return {
    createOutputs,
    createGrad,
    forwardInto,
    backwardInto,
    forward: (args) => forwardInto(args, createOutputs()),
    backward(args, seed) {
      const outputs = createOutputs();
      const grad = backwardInto(args, seed, createGrad(), outputs);
      return { outputs, grad };
    },
  };
}

/**
 * Arguments for a synthetic problem of the given sizes, ADBench-like in its magnitudes: small
 * rotations, points in front of the cameras, focal lengths near 1, weights near 1, every
 * camera and point observed. `next` is a uniform [0, 1) source.
 */
export function makeBundleArgs({ C, M, P }, next) {
  const u = (a, b) => a + (b - a) * next();
  const cams = new Float64Array(11 * C);
  for (let c = 0; c < C; c++) {
    const cam = cams.subarray(11 * c, 11 * c + 11);
    cam.set([u(-0.3, 0.3), u(-0.3, 0.3), u(-0.3, 0.3), u(-1, 1), u(-1, 1), u(-12, -8), u(0.8, 1.2), u(-0.05, 0.05), u(-0.05, 0.05), u(-0.1, 0.1), u(-0.02, 0.02)]);
  }
  const pts = Float64Array.from({ length: 3 * M }, () => u(-2, 2));
  const obs = new Int32Array(2 * P);
  for (let i = 0; i < P; i++) {
    obs[2 * i] = i < C ? i : Math.floor(next() * C);
    obs[2 * i + 1] = i < M ? i : Math.floor(next() * M);
  }
  const feat = Float64Array.from({ length: 2 * P }, () => u(-0.3, 0.3));
  const w = Float64Array.from({ length: P }, () => u(0.8, 1.2));
  return { obs, feat, cams, pts, w };
}

/**
 * The weighted reprojection residual of one observation, w (projection - f), as [r0, r1]:
 * cam (11 numbers) and X (3) are arrays, f the feature [f0, f1]. Written plainly, for tests.
 */
export function reprojection(cam, X, w, f) {
  const [r0, r1, r2] = [cam[0], cam[1], cam[2]];
  const D = [X[0] - cam[3], X[1] - cam[4], X[2] - cam[5]];
  const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const th2 = r0 * r0 + r1 * r1 + r2 * r2;
  let Y;
  if (th2 > SMALL) {
    const th = Math.sqrt(th2);
    const k = [r0 / th, r1 / th, r2 / th];
    const kxD = cross(k, D);
    const kd = k[0] * D[0] + k[1] * D[1] + k[2] * D[2];
    Y = D.map((d, j) => d * Math.cos(th) + kxD[j] * Math.sin(th) + k[j] * kd * (1 - Math.cos(th)));
  } else {
    const rxD = cross([r0, r1, r2], D);
    Y = D.map((d, j) => d + rxD[j]);
  }
  const p = [Y[0] / Y[2], Y[1] / Y[2]];
  const rs = p[0] * p[0] + p[1] * p[1];
  const L = 1 + cam[9] * rs + cam[10] * rs * rs;
  return [w * (p[0] * L * cam[6] + cam[7] - f[0]), w * (p[1] * L * cam[6] + cam[8] - f[1])];
}
