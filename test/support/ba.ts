// One bundle-adjustment observation written over its 15 unknowns p (camera 11, point 3,
// weight 1, as ADBench lays them out) and its feature f: the program the BA Jacobian's tests
// build on (the cut of a reverse-mode Jacobian, the forward's early stores).
export const BA_OBSERVATION = `
def rodrigues(r, X) = where(dot(r, r) > 1e-30,
    X * cos(norm(r)) + cross(r / norm(r), X) * sin(norm(r)) + r / norm(r) * (dot(r / norm(r), X) * (1 - cos(norm(r)))),
    X + cross(r, X))
def proj2(Y) = Y[0:2] / Y[2]
def distort(q, u) = u * (1 + q[9] * dot(u, u) + q[10] * dot(u, u) ^ 2)
def residual(q, f) = q[14] * (distort(q, proj2(rodrigues(q[0:3], q[11:14] - q[3:6]))) * q[6] + q[7:9] - f)
param p[15]
input f[2]
`;
