// The graph diagram: a layered layout (breadth-first layers from the entrypoint) drawn as SVG
// from the manifest and the edge list of GET /graphs/{graph}. No diagram library.

import { h, s, uid } from "./dom.js";

export const START = "__start__";
export const END = "__complete__";

const CHAR_WIDTH = 7.9; // monospace 13px
const SUB_CHAR_WIDTH = 6.7; // monospace 11px
const NODE_HEIGHT = 48;
const PILL_HEIGHT = 30;
const LAYER_GAP = 64;
const LAYER_GAP_STEP = 28; // added between layers when labels found no free spot
const LAYOUT_TRIES = 4;
const LABEL_HEIGHT = 18;
const NODE_GAP = 36;
const MARGIN = 24;

const EDGE_LABELS = { wait: "wait", timeout: "timeout", error: "error" };

/** Nodes and edges of the diagram, START and END included. */
export function diagramModel(detail) {
  const manifest = detail.manifest || {};
  const specs = manifest.nodes || [];
  const names = new Set(specs.map((n) => n.name));
  const nodes = [{ id: START, label: "START", kind: "start" }];
  for (const spec of specs) {
    const badges = [];
    if (spec.join) badges.push("join");
    if (spec.kind === "subgraph") badges.push("subgraph");
    for (const wait of spec.waits || []) badges.push(`waits: ${wait.event}`);
    if (spec.terminal) badges.push("terminal");
    nodes.push({
      id: spec.name, label: spec.name, kind: spec.kind === "subgraph" ? "subgraph" : spec.join ? "join" : "node",
      terminal: Boolean(spec.terminal), join: Boolean(spec.join), waits: spec.waits || [], sub: badges.join(" · "),
      routerUndeclared: Boolean(spec.has_router) && spec.route_targets === null,
    });
  }
  const edges = [];
  if (manifest.entrypoint) edges.push({ source: START, target: manifest.entrypoint, kind: "static" });
  for (const edge of detail.edges || []) edges.push({ ...edge });
  const outgoing = new Set(edges.map((e) => e.source));
  for (const spec of specs) {
    if (spec.terminal || (!outgoing.has(spec.name) && !spec.has_router)) {
      edges.push({ source: spec.name, target: END, kind: "end" });
    }
  }
  let hasEnd = false;
  for (const edge of edges) {
    if (edge.target === END) hasEnd = true;
    else if (!names.has(edge.target) && edge.target !== START) {
      nodes.push({ id: edge.target, label: edge.target, kind: "missing", sub: "unknown node" });
      names.add(edge.target);
    }
  }
  if (hasEnd) nodes.push({ id: END, label: "END", kind: "end" });
  return { nodes, edges };
}

function nodeSize(node) {
  if (node.kind === "start" || node.kind === "end") return { width: 76, height: PILL_HEIGHT };
  const width = Math.max(node.label.length * CHAR_WIDTH, (node.sub || "").length * SUB_CHAR_WIDTH) + 32;
  return { width: Math.max(96, Math.ceil(width)), height: NODE_HEIGHT };
}

const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

/**
 * Layered layout: breadth-first layers from START (END last); an edge spanning several layers
 * runs through virtual points, one per layer it crosses; an edge pointing up is laid out
 * reversed and drawn with its arrow at the start. Returns nodes with x/y, the edges with their
 * points, and the drawing's size. `layerGap` is the vertical room between layers.
 */
export function layoutModel(model, { layerGap = LAYER_GAP } = {}) {
  const nodes = new Map(model.nodes.map((n) => [n.id, { ...n, ...nodeSize(n), dummy: false }]));
  const out = new Map([...nodes.keys()].map((id) => [id, []]));
  for (const edge of model.edges) if (out.has(edge.source) && nodes.has(edge.target)) out.get(edge.source).push(edge.target);

  // Breadth-first layers from START; a node it does not reach starts its own search at layer 1.
  const layer = new Map();
  const order = [];
  const bfs = (root, base) => {
    if (layer.has(root)) return;
    layer.set(root, base);
    order.push(root);
    const queue = [root];
    while (queue.length) {
      const current = queue.shift();
      for (const next of out.get(current) || []) {
        if (next === END || layer.has(next)) continue;
        layer.set(next, layer.get(current) + 1);
        order.push(next);
        queue.push(next);
      }
    }
  };
  if (nodes.has(START)) bfs(START, 0);
  for (const node of model.nodes) if (node.id !== END) bfs(node.id, 1);
  if (nodes.has(END)) {
    layer.set(END, Math.max(0, ...layer.values()) + 1);
    order.push(END);
  }
  const depth = Math.max(0, ...layer.values()) + 1;
  const layers = Array.from({ length: depth }, () => []);
  for (const id of order) {
    layers[layer.get(id)].push(id);
    nodes.get(id).layer = layer.get(id);
  }

  // Edges: direction, and a chain of virtual points through the layers they cross.
  const upper = new Map([...nodes.keys()].map((id) => [id, []]));
  const lower = new Map([...nodes.keys()].map((id) => [id, []]));
  const edges = model.edges.filter((e) => nodes.has(e.source) && nodes.has(e.target)).map((e, index) => {
    const ls = layer.get(e.source);
    const lt = layer.get(e.target);
    const dir = e.source === e.target ? "self" : lt > ls ? "down" : lt < ls ? "up" : "flat";
    const edge = { ...e, index, dir, chain: [] };
    if (dir === "down" || dir === "up") {
      edge.top = dir === "down" ? e.source : e.target;
      edge.bottom = dir === "down" ? e.target : e.source;
      for (let l = layer.get(edge.top) + 1; l < layer.get(edge.bottom); l += 1) {
        const id = `\u0000${index}:${l}`;
        nodes.set(id, { id, dummy: true, width: 12, height: 0, layer: l });
        upper.set(id, []);
        lower.set(id, []);
        layers[l].push(id);
        edge.chain.push(id);
      }
      const sequence = [edge.top, ...edge.chain, edge.bottom];
      for (let i = 0; i + 1 < sequence.length; i += 1) {
        lower.get(sequence[i]).push(sequence[i + 1]);
        upper.get(sequence[i + 1]).push(sequence[i]);
      }
    }
    return edge;
  });

  // Order within layers: barycentre sweeps, down then up.
  const index = new Map();
  const indexLayer = (ids) => ids.forEach((id, i) => index.set(id, i));
  layers.forEach(indexLayer);
  const sortLayer = (l, neighbours) => {
    const keyed = layers[l].map((id, i) => {
      const near = neighbours.get(id).map((n) => index.get(n));
      return { id, i, key: near.length ? mean(near) : i };
    });
    keyed.sort((a, b) => a.key - b.key || a.i - b.i);
    layers[l] = keyed.map((k) => k.id);
    indexLayer(layers[l]);
  };
  for (let sweep = 0; sweep < 4; sweep += 1) {
    if (sweep % 2 === 0) for (let l = 1; l < depth; l += 1) sortLayer(l, upper);
    else for (let l = depth - 2; l >= 0; l -= 1) sortLayer(l, lower);
  }

  // Horizontal centres: packed, then pulled towards their neighbours a few times.
  const centre = new Map();
  const gapBetween = (a, b) => (nodes.get(a).dummy || nodes.get(b).dummy ? 14 : NODE_GAP);
  const pack = (ids, wanted) => {
    const positions = ids.map((id) => wanted.get(id));
    for (let i = 1; i < ids.length; i += 1) {
      const min = positions[i - 1] + (nodes.get(ids[i - 1]).width + nodes.get(ids[i]).width) / 2 + gapBetween(ids[i - 1], ids[i]);
      if (positions[i] < min) positions[i] = min;
    }
    const shift = ids.length ? mean(ids.map((id) => wanted.get(id))) - mean(positions) : 0;
    ids.forEach((id, i) => centre.set(id, positions[i] + shift));
  };
  for (const ids of layers) {
    let x = 0;
    const wanted = new Map();
    for (const id of ids) {
      wanted.set(id, x + nodes.get(id).width / 2);
      x += nodes.get(id).width + NODE_GAP;
    }
    const offset = x / 2;
    for (const id of ids) wanted.set(id, wanted.get(id) - offset);
    pack(ids, wanted);
  }
  for (let round = 0; round < 12; round += 1) {
    const sequence = round % 2 === 0 ? layers : [...layers].reverse();
    for (const ids of sequence) {
      const wanted = new Map(ids.map((id) => {
        const near = [...upper.get(id), ...lower.get(id)].map((n) => centre.get(n));
        return [id, near.length ? mean(near) : centre.get(id)];
      }));
      pack(ids, wanted);
    }
  }

  // Coordinates.
  const left = Math.min(...[...nodes.values()].map((n) => centre.get(n.id) - n.width / 2));
  const hasSelf = edges.some((e) => e.dir === "self");
  let y = MARGIN;
  const rows = [];
  for (let l = 0; l < depth; l += 1) {
    const real = layers[l].filter((id) => !nodes.get(id).dummy);
    const rowHeight = Math.max(PILL_HEIGHT, ...real.map((id) => nodes.get(id).height));
    rows.push({ top: y, bottom: y + rowHeight });
    for (const id of layers[l]) {
      const node = nodes.get(id);
      node.cx = centre.get(id) - left + MARGIN;
      node.x = node.cx - node.width / 2;
      node.y = node.dummy ? y : y + (rowHeight - node.height) / 2;
      if (node.dummy) node.height = rowHeight;
    }
    y += rowHeight + layerGap;
  }
  const right = Math.max(...[...nodes.values()].map((n) => n.x + n.width));
  return {
    nodes, edges, layers, rows,
    width: right + MARGIN + (hasSelf ? 44 : 0),
    height: y - layerGap + MARGIN,
  };
}

function edgeLabel(edge) {
  const base = EDGE_LABELS[edge.kind];
  if (!base) return "";
  return edge.event ? `${base}: ${edge.event}` : base;
}

function spread(count, index, width) {
  if (count <= 1) return 0;
  const span = Math.min(width * 0.7, 18 * (count - 1));
  return -span / 2 + (span * index) / (count - 1);
}

function cubicAt([p0, p1, p2, p3], t) {
  const u = 1 - t;
  return {
    x: u * u * u * p0.x + 3 * u * u * t * p1.x + 3 * u * t * t * p2.x + t * t * t * p3.x,
    y: u * u * u * p0.y + 3 * u * u * t * p1.y + 3 * u * t * t * p2.y + t * t * t * p3.y,
  };
}

/** Path segments of every edge: [{type: "line"|"cubic", points}], and where labels may go. */
function routeEdges(layout) {
  const { nodes, edges } = layout;
  const bottomPorts = new Map();
  const topPorts = new Map();
  const add = (map, id, entry) => (map.get(id) || map.set(id, []).get(id)).push(entry);
  for (const edge of edges) {
    if (edge.dir !== "down" && edge.dir !== "up") continue;
    const first = nodes.get(edge.chain[0] || edge.bottom);
    const last = nodes.get(edge.chain[edge.chain.length - 1] || edge.top);
    add(bottomPorts, edge.top, { edge, towards: first.cx });
    add(topPorts, edge.bottom, { edge, towards: last.cx });
  }
  const portX = (map, id, edge) => {
    const node = nodes.get(id);
    const list = map.get(id);
    list.sort((a, b) => a.towards - b.towards || a.edge.index - b.edge.index);
    return node.cx + spread(list.length, list.findIndex((p) => p.edge === edge), node.width);
  };
  for (const edge of edges) {
    const segments = [];
    if (edge.dir === "down" || edge.dir === "up") {
      const top = nodes.get(edge.top);
      const bottom = nodes.get(edge.bottom);
      const points = [{ x: portX(bottomPorts, edge.top, edge), y: top.y + top.height }];
      for (const id of edge.chain) {
        const dummy = nodes.get(id);
        points.push({ x: dummy.cx, y: dummy.y, dummy: true });
        points.push({ x: dummy.cx, y: dummy.y + dummy.height, dummy: true });
      }
      points.push({ x: portX(topPorts, edge.bottom, edge), y: bottom.y });
      for (let i = 0; i + 1 < points.length; i += 1) {
        const a = points[i];
        const b = points[i + 1];
        if (a.dummy && b.dummy && a.x === b.x) segments.push({ type: "line", points: [a, b] });
        else {
          const bend = Math.max(16, (b.y - a.y) / 2);
          segments.push({ type: "cubic", points: [a, { x: a.x, y: a.y + bend }, { x: b.x, y: b.y - bend }, b] });
        }
      }
    } else if (edge.dir === "flat") {
      const a = nodes.get(edge.source);
      const b = nodes.get(edge.target);
      const p0 = { x: a.cx + (b.cx > a.cx ? 8 : -8), y: a.y + a.height };
      const p3 = { x: b.cx + (b.cx > a.cx ? -8 : 8), y: b.y + b.height };
      const drop = 28;
      segments.push({ type: "cubic", points: [p0, { x: p0.x, y: p0.y + drop }, { x: p3.x, y: p3.y + drop }, p3] });
    } else {
      const a = nodes.get(edge.source);
      const p0 = { x: a.x + a.width, y: a.y + a.height / 2 - 8 };
      const p3 = { x: a.x + a.width, y: a.y + a.height / 2 + 8 };
      segments.push({ type: "cubic", points: [p0, { x: p0.x + 40, y: p0.y - 22 }, { x: p3.x + 40, y: p3.y + 22 }, p3] });
    }
    edge.segments = segments;
    edge.d = segments.map((seg, i) => {
      const [p0, ...rest] = seg.points;
      const move = i === 0 ? `M ${p0.x.toFixed(1)} ${p0.y.toFixed(1)} ` : "";
      const body = rest.map((p) => `${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(", ");
      return `${move}${seg.type === "line" ? "L" : "C"} ${body}`;
    }).join(" ");
    // Label spots: middles of straight runs first, then points along the curves.
    const spots = [];
    for (const seg of segments) {
      if (seg.type === "line") spots.push({ x: seg.points[0].x, y: (seg.points[0].y + seg.points[1].y) / 2 });
    }
    for (const t of [0.5, 0.35, 0.65, 0.25, 0.75, 0.42, 0.58, 0.15, 0.85]) {
      for (const seg of segments) if (seg.type === "cubic") spots.push(cubicAt(seg.points, t));
    }
    edge.spots = spots;
  }
}

function overlaps(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/**
 * Place each label at its first spot that covers no node and no other label. Returns how many
 * labels found no such spot on their edge: those are put at the nearest place free of labels
 * (and of nodes where one is near), so no two labels ever overlap.
 */
function placeLabels(layout) {
  const nodeBoxes = [...layout.nodes.values()].filter((n) => !n.dummy).map((n) => ({ x: n.x - 2, y: n.y - 2, width: n.width + 4, height: n.height + 4 }));
  const labelBoxes = [];
  let misses = 0;
  for (const edge of layout.edges) {
    const text = edgeLabel(edge);
    if (!text || !edge.spots.length) continue;
    const width = text.length * 6.6 + 10;
    const box = (spot) => ({ x: spot.x - width / 2, y: spot.y - LABEL_HEIGHT / 2, width, height: LABEL_HEIGHT });
    const free = (spot, others) => !others.some((other) => overlaps(box(spot), other));
    // Centred on the edge if there is room, else beside it (right, then left).
    const candidates = [0, 1, -1].flatMap((side) => edge.spots.map((p) => ({ x: p.x + side * (width / 2 + 5), y: p.y })));
    let spot = candidates.find((candidate) => free(candidate, [...nodeBoxes, ...labelBoxes]));
    if (!spot) {
      misses += 1;
      spot = nearestFree(edge.spots[0], width, [...nodeBoxes, ...labelBoxes], free)
        || nearestFree(edge.spots[0], width, labelBoxes, free)
        || { x: Math.max(...labelBoxes.map((b) => b.x + b.width)) + width / 2 + 6, y: edge.spots[0].y };
    }
    edge.label = { text, ...box(spot), cx: spot.x, cy: spot.y };
    labelBoxes.push(box(spot));
  }
  const labelled = layout.edges.filter((e) => e.label);
  layout.width = Math.max(layout.width, ...labelled.map((e) => e.label.x + e.label.width + MARGIN));
  layout.height = Math.max(layout.height, ...labelled.map((e) => e.label.y + e.label.height + MARGIN));
  return misses;
}

/** The free spot closest to `origin` on a small grid around it (steps of half a label), or null. */
function nearestFree(origin, width, others, free) {
  const spots = [];
  for (let dy = -6; dy <= 6; dy += 1) {
    for (let dx = -4; dx <= 4; dx += 1) {
      const spot = { x: origin.x + dx * (width / 2 + 5), y: origin.y + dy * (LABEL_HEIGHT / 2 + 2) };
      if (spot.x - width / 2 >= 0 && spot.y - LABEL_HEIGHT / 2 >= 0) spots.push(spot);
    }
  }
  spots.sort((a, b) => Math.hypot(a.x - origin.x, a.y - origin.y) - Math.hypot(b.x - origin.x, b.y - origin.y));
  return spots.find((spot) => free(spot, others)) || null;
}

/**
 * Lay out, route and label; when a label finds no free spot on its edge, lay out again with
 * more room between layers (longer edges have more spots), a few times at most.
 */
function laidOut(model) {
  let layout = null;
  for (let attempt = 0; attempt < LAYOUT_TRIES; attempt += 1) {
    layout = layoutModel(model, { layerGap: LAYER_GAP + attempt * LAYER_GAP_STEP });
    routeEdges(layout);
    if (placeLabels(layout) === 0) break;
  }
  return layout;
}

function nodeShape(node) {
  const { x, y, width: w, height: hgt } = node;
  if (node.kind === "start" || node.kind === "end") {
    return [s("rect", { class: "shape", x, y, width: w, height: hgt, rx: hgt / 2 })];
  }
  if (node.kind === "join") {
    const c = 12;
    const points = [[x + c, y], [x + w - c, y], [x + w, y + hgt / 2], [x + w - c, y + hgt], [x + c, y + hgt], [x, y + hgt / 2]];
    return [s("polygon", { class: "shape", points: points.map((p) => p.join(",")).join(" ") })];
  }
  const shapes = [s("rect", { class: "shape", x, y, width: w, height: hgt, rx: 6 })];
  if (node.kind === "subgraph") {
    shapes.push(s("line", { class: "detail", x1: x + 8, y1: y, x2: x + 8, y2: y + hgt }));
    shapes.push(s("line", { class: "detail", x1: x + w - 8, y1: y, x2: x + w - 8, y2: y + hgt }));
  }
  if (node.terminal) {
    shapes.push(s("rect", { class: "detail terminal-ring", x: x + 3, y: y + 3, width: w - 6, height: hgt - 6, rx: 4 }));
  }
  return shapes;
}

function describeEdge(edge) {
  const name = (id) => (id === START ? "START" : id === END ? "END" : id);
  const label = edgeLabel(edge);
  const kind = edge.kind === "end" ? "end" : edge.kind;
  return `${name(edge.source)} → ${name(edge.target)} (${kind}${label && kind !== label ? `, ${label}` : ""})`;
}

/**
 * Render the diagram. Returns {element, setMarks(marks)} where marks maps a node name to a
 * set of states: "visited", "current", "waiting", "failed".
 */
export function renderDiagram(detail, { caption } = {}) {
  const model = diagramModel(detail);
  const layout = laidOut(model);
  const id = uid(`diagram-${detail.name || "graph"}`);
  const titleId = `${id}-title`;
  const markerIds = {};
  const defs = s("defs");
  for (const kind of ["static", "conditional", "wait", "timeout", "error", "end"]) {
    markerIds[kind] = `${id}-arrow-${kind}`;
    defs.append(s("marker", {
      id: markerIds[kind], viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 10, markerHeight: 10,
      orient: "auto-start-reverse", markerUnits: "userSpaceOnUse",
    }, s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: `arrow arrow-${kind}` })));
  }

  const edgeLayer = s("g", { class: "edges" });
  const labelLayer = s("g", { class: "edge-labels" });
  const edgeElements = [];
  for (const edge of layout.edges) {
    const marker = `url(#${markerIds[edge.kind] || markerIds.static})`;
    const path = s("path", {
      d: edge.d, class: `edge edge-${edge.kind}${edge.dir === "up" ? " edge-back" : ""}`,
      "marker-end": edge.dir === "up" ? null : marker, "marker-start": edge.dir === "up" ? marker : null,
      dataset: { source: edge.source, target: edge.target, kind: edge.kind },
    }, s("title", {}, describeEdge(edge)));
    edgeLayer.append(path);
    edgeElements.push({ edge, path });
    if (edge.label) {
      labelLayer.append(s("g", { class: `edge-label edge-label-${edge.kind}` },
        s("rect", { x: edge.label.x, y: edge.label.y, width: edge.label.width, height: edge.label.height, rx: 4 }),
        s("text", { x: edge.label.cx, y: edge.label.cy + 4, "text-anchor": "middle" }, edge.label.text)));
    }
  }

  const nodeLayer = s("g", { class: "nodes" });
  const nodeElements = new Map();
  for (const node of layout.nodes.values()) {
    if (node.dummy) continue;
    const title = s("title", {}, nodeTitle(node, new Set()));
    const hasSub = node.sub && node.kind !== "start" && node.kind !== "end";
    const group = s("g", { class: `node node-${node.kind}${node.terminal ? " node-terminal" : ""}`, dataset: { node: node.id, state: "" } },
      title,
      ...nodeShape(node),
      s("text", { class: "label", x: node.x + node.width / 2, y: node.y + (hasSub ? node.height / 2 - 3 : node.height / 2 + 4.5), "text-anchor": "middle" }, node.label),
      hasSub ? s("text", { class: "sub", x: node.x + node.width / 2, y: node.y + node.height / 2 + 13, "text-anchor": "middle" }, node.sub) : null);
    nodeLayer.append(group);
    nodeElements.set(node.id, { group, title, node });
  }

  const label = caption || `Diagram of graph ${detail.name}`;
  const svgElement = s("svg", {
    class: "diagram-svg", viewBox: `0 0 ${Math.ceil(layout.width)} ${Math.ceil(layout.height)}`,
    width: Math.ceil(layout.width), height: Math.ceil(layout.height), role: "img", "aria-labelledby": titleId,
  }, s("title", { id: titleId }, `${label}: ${model.nodes.filter((n) => n.kind !== "start" && n.kind !== "end").length} nodes, ${model.edges.length} edges`),
  defs, edgeLayer, labelLayer, nodeLayer);

  const textList = h("ul", { class: "edge-list" }, model.edges.map((e) => h("li", {}, describeEdge(e))));
  const element = h("figure", { class: "diagram", id },
    h("div", { class: "diagram-scroll" }, svgElement),
    h("figcaption", {}, legend(),
      h("details", { class: "as-text" }, h("summary", {}, "Diagram as text"), textList)));

  function setMarks(marks) {
    for (const [name, { group, title, node }] of nodeElements) {
      const states = marks.get(name) || new Set();
      for (const state of ["visited", "current", "waiting", "failed"]) group.classList.toggle(`is-${state}`, states.has(state));
      group.dataset.state = [...states].sort().join(" ");
      title.textContent = nodeTitle(node, states);
    }
    // an edge between two visited nodes was (most likely) taken
    const visited = (name) => (marks.get(name) || new Set()).has("visited");
    for (const { edge, path } of edgeElements) path.classList.toggle("is-taken", visited(edge.source) && visited(edge.target));
  }
  return { element, setMarks, layout };
}

function nodeTitle(node, states) {
  const parts = [node.kind === "start" ? "START" : node.kind === "end" ? "END" : `node ${node.label}`];
  if (node.sub && node.kind !== "start" && node.kind !== "end") parts.push(node.sub);
  if (node.routerUndeclared) parts.push("router targets not declared");
  if (states.size) parts.push([...states].sort().join(", "));
  return parts.join(" — ");
}

function legend() {
  const item = (cls, text) => h("li", {}, h("span", { class: `swatch ${cls}`, "aria-hidden": "true" }), text);
  return h("ul", { class: "legend", "aria-label": "Legend" },
    item("edge-static", "static"),
    item("edge-conditional", "conditional (router)"),
    item("edge-wait", "wait for event"),
    item("edge-timeout", "timeout"),
    item("edge-error", "on error"),
    item("node-join", "join"),
    item("node-terminal", "terminal"));
}

export function runLegend() {
  const item = (cls, text) => h("li", {}, h("span", { class: `swatch ${cls}`, "aria-hidden": "true" }), text);
  return h("ul", { class: "legend run-legend", "aria-label": "Run marks" },
    item("mark-visited", "visited"), item("mark-current", "running now"),
    item("mark-waiting", "waiting"), item("mark-failed", "failed"));
}
