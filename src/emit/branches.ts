// Branches for costly selections in straight-line code. A scalar `where(c, a, b)` (and the
// masks its derivatives make) prints as `c ? a : b`, which evaluates only the chosen side's
// own expression; but a value named on a line of its own (used twice, or too deep to inline)
// is computed before the selection, on both paths. A rotation's small-angle branch beside
// the full form is such a case: whichever side is taken, the other's named values (sines,
// divisions by the angle, their adjoints) are computed, and masked. This pass finds, per
// selection, the nodes that only its true side or only its false side needs, and when
// together they are worth a branch (BRANCH_MIN_OPERATIONS), schedules them inside
// `if (c) { ... } else { ... }`, the selection's value assigned at the end of each side.
// Selections on one condition that do not depend on one another share one `if`.
//
// How, in three linear walks over the graph (plus a binary search per node):
// - Regions: in reverse topological order, each node gets the innermost branch (a region:
//   a side of a group of selections on one condition, nested in the region where the
//   selections are) that contains every use of it; the least common ancestor of its users'
//   regions in the region tree. Done twice: first with every selection on a non-constant
//   condition, to count what each side owns, then with the selections worth a branch only
//   (dropping one moves what it owned to its parent region, so the others only grow).
// - Stages: a node's stage is the number of branching selections on its longest chain of
//   operands. Selections of one group at one stage cannot depend on one another, so they
//   form one block (one `if`), placed in their region after everything of lower stages.
// - Placement: a node of a region goes into that region's group's first block (by stage)
//   after its own stage, in the side it belongs to; each list of items (the top level, the
//   side of a block) is ordered by stage, blocks before nodes, then by id. A program without
//   branching selections keeps the plain topological order, so its code does not change.

import type { Graph, Node } from "../ir/graph.js";

/**
 * Operations the two sides of a group of selections must own together for a branch: below
 * this a selection stays a selection (a relu's or a clamp's, whose sides are values computed
 * anyway), since a branch that saves a multiplication or two costs its own jump.
 */
export const BRANCH_MIN_OPERATIONS = 6;

export interface Block {
  kind: "block";
  /** The condition: the true side runs where it is not zero. */
  cond: Node;
  /** The selections whose values the block assigns at the end of each side. */
  selects: Node[];
  /** The items of the true side and of the false side, in order. */
  sides: [Item[], Item[]];
  stage: number;
  group: number;
}
export type Item = { kind: "node"; node: Node } | Block;

export const isSelection = (n: Node): boolean => (n.op === "where" || n.op === "mask") && n.args[0].op !== "const";

/**
 * By node: whether it is a table of constants, a selection whose two values are constants
 * or such tables (`r < 1e-100 ? (r < 1e-300 ? a : b) : (r > 1e100 ? c : 1)`). A branch
 * around one would save nothing but the tests of the side not taken, so none is made.
 */
export function constantTables(graph: Graph, needed: Uint8Array): Uint8Array {
  const table = new Uint8Array(graph.nodes.length);
  const leaf = (a: Node) => a.op === "const" || table[a.id] === 1;
  for (const n of graph.nodes) if (needed[n.id] && isSelection(n) && leaf(n.args[1]) && leaf(n.args[2])) table[n.id] = 1;
  return table;
}

interface Regions {
  region: Int32Array;
  /** By region: parent region (-1 for the top, 0), depth, and group and side (-1 for the top). */
  parent: number[];
  depth: number[];
  groupOf: number[];
  sideOf: number[];
  /** By node: the group of a branching selection, else -1. */
  selectGroup: Int32Array;
  groups: { cond: Node; parent: number; sides: [number, number] }[];
}

function assignRegions(graph: Graph, needed: Uint8Array, roots: readonly Node[], branching: (n: Node) => boolean): Regions {
  const count = graph.nodes.length;
  const region = new Int32Array(count).fill(-1);
  const selectGroup = new Int32Array(count).fill(-1);
  const parent = [-1];
  const depth = [0];
  const groupOf = [-1];
  const sideOf = [-1];
  const groups: Regions["groups"] = [];
  const groupKey = new Map<string, number>();
  const lca = (a: number, b: number) => {
    while (a !== b) {
      if (depth[a] >= depth[b]) a = parent[a];
      else b = parent[b];
    }
    return a;
  };
  const join = (id: number, r: number) => {
    region[id] = region[id] < 0 ? r : lca(region[id], r);
  };
  for (const r of roots) region[r.id] = 0;
  for (let i = count - 1; i >= 0; i--) {
    if (!needed[i] || region[i] < 0) continue;
    const n = graph.nodes[i];
    const r = region[i];
    if (!branching(n)) {
      for (const a of n.args) join(a.id, r);
      continue;
    }
    const c = n.args[0];
    const key = `${c.id} ${r}`;
    let g = groupKey.get(key);
    if (g === undefined) {
      g = groups.length;
      const sides: [number, number] = [parent.length, parent.length + 1];
      for (const side of [0, 1]) {
        parent.push(r);
        depth.push(depth[r] + 1);
        groupOf.push(g);
        sideOf.push(side);
      }
      groups.push({ cond: c, parent: r, sides });
      groupKey.set(key, g);
    }
    selectGroup[i] = g;
    join(c.id, r);
    join(n.args[1].id, groups[g].sides[0]);
    join(n.args[2].id, groups[g].sides[1]);
  }
  return { region, parent, depth, groupOf, sideOf, selectGroup, groups };
}

/**
 * The items of straight-line code in the order to print them, with the nodes that only one
 * side of a costly selection needs inside that side's block. `costs(n)`: whether `n` is an
 * operation (not a constant or an argument read).
 */
export function scheduleBranches(graph: Graph, needed: Uint8Array, roots: readonly Node[], costs: (n: Node) => boolean): Item[] {
  const count = graph.nodes.length;
  // First: every selection a candidate; what each group's sides own, nested regions included.
  const table = constantTables(graph, needed);
  const first = assignRegions(graph, needed, roots, (n) => isSelection(n) && !table[n.id]);
  const owned = new Float64Array(first.parent.length);
  for (let i = 0; i < count; i++) if (needed[i] && first.region[i] > 0 && costs(graph.nodes[i])) owned[first.region[i]]++;
  // Children come after their parent (a region is made while walking its selection's users).
  for (let r = first.parent.length - 1; r > 0; r--) owned[first.parent[r]] += owned[r];
  const worth = first.groups.map((g) => owned[g.sides[0]] + owned[g.sides[1]] >= BRANCH_MIN_OPERATIONS);
  const top: Item[] = [];
  if (!worth.some(Boolean)) {
    for (let i = 0; i < count; i++) if (needed[i]) top.push({ kind: "node", node: graph.nodes[i] });
    return top;
  }
  const { region, selectGroup, groups, groupOf, sideOf } = assignRegions(graph, needed, roots, (n) => first.selectGroup[n.id] >= 0 && worth[first.selectGroup[n.id]]);

  const stage = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    if (!needed[i]) continue;
    let s = 0;
    for (const a of graph.nodes[i].args) s = Math.max(s, stage[a.id]);
    stage[i] = s + (selectGroup[i] >= 0 ? 1 : 0);
  }
  // Each group's stages, ascending, and its block at each.
  const stagesOf: number[][] = groups.map(() => []);
  for (let i = 0; i < count; i++) if (needed[i] && selectGroup[i] >= 0) stagesOf[selectGroup[i]].push(stage[i]);
  const blocks: Map<number, Block>[] = groups.map(() => new Map());
  stagesOf.forEach((list, g) => {
    const distinct = [...new Set(list)].sort((a, b) => a - b);
    stagesOf[g] = distinct;
    for (const s of distinct) blocks[g].set(s, { kind: "block", cond: groups[g].cond, selects: [], sides: [[], []], stage: s, group: g });
  });
  // The list that holds an item of region `r` at stage `s`: the top level, or the side of the
  // first block of r's group after stage s (there is one: some selection of it uses the item).
  const listOf = (r: number, s: number): Item[] => {
    if (r === 0) return top;
    const stages = stagesOf[groupOf[r]];
    let lo = 0;
    let hi = stages.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (stages[mid] > s) hi = mid;
      else lo = mid + 1;
    }
    return blocks[groupOf[r]].get(stages[lo])!.sides[sideOf[r] as 0 | 1];
  };
  for (let g = 0; g < groups.length; g++) for (const b of blocks[g].values()) listOf(groups[g].parent, b.stage).push(b);
  for (let i = 0; i < count; i++) {
    if (!needed[i]) continue;
    const n = graph.nodes[i];
    if (selectGroup[i] >= 0) blocks[selectGroup[i]].get(stage[i])!.selects.push(n);
    else listOf(region[i], stage[i]).push({ kind: "node", node: n });
  }
  // By stage, a block before the nodes of its stage (they may read its values), then by id.
  const key = (x: Item): [number, number, number] => (x.kind === "block" ? [x.stage, 0, x.group] : [stage[x.node.id], 1, x.node.id]);
  const order = (a: Item, b: Item) => {
    const [p, q] = [key(a), key(b)];
    return p[0] - q[0] || p[1] - q[1] || p[2] - q[2];
  };
  const lists = [top];
  for (const m of blocks) for (const b of m.values()) lists.push(b.sides[0], b.sides[1]);
  for (const list of lists) list.sort(order);
  return top;
}
