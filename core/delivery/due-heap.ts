/*
 * When each queued message is next due: a binary min-heap of (dueMs, id), so
 * the scheduler arms one timer for the earliest message instead of one per
 * message (qmail-send keeps its priority queues the same way). Setting an id
 * again replaces its time; the old heap node is left behind and skipped when
 * it surfaces (lazy deletion), and the heap is rebuilt once such stale nodes
 * outnumber the live ones, so memory stays linear in the messages held.
 * Pure: no timers, no I/O.
 */

interface Node {
  readonly dueMs: number;
  readonly id: string;
}

export class DueHeap {
  private nodes: Node[] = [];
  /** The live time of each id; a node whose time differs from this is stale. */
  private readonly due = new Map<string, number>();

  /** Messages held. */
  get size(): number {
    return this.due.size;
  }

  has(id: string): boolean {
    return this.due.has(id);
  }

  /** The time `id` is due, if held. */
  dueAt(id: string): number | undefined {
    return this.due.get(id);
  }

  /** Holds `id` as due at `dueMs`, replacing any earlier time it had. */
  set(id: string, dueMs: number): void {
    if (this.due.get(id) === dueMs) return;
    this.due.set(id, dueMs);
    this.push({ dueMs, id });
    this.compact();
  }

  /** Forgets `id` (its node goes when it surfaces or at the next rebuild). */
  delete(id: string): boolean {
    const held = this.due.delete(id);
    this.compact();
    return held;
  }

  /** The earliest live entry, without removing it. */
  peek(): Node | undefined {
    this.dropStale();
    return this.nodes[0];
  }

  /** Removes and returns the earliest entry if it is due at `nowMs`. Ties go in id order (ids sort by age). */
  popDue(nowMs: number): string | undefined {
    const top = this.peek();
    if (!top || top.dueMs > nowMs) return undefined;
    this.pop();
    this.due.delete(top.id);
    return top.id;
  }

  private dropStale(): void {
    while (this.nodes.length && this.due.get(this.nodes[0]!.id) !== this.nodes[0]!.dueMs) this.pop();
  }

  /** Rebuilds once stale nodes outnumber live ones: amortized O(1) per change. */
  private compact(): void {
    if (this.nodes.length > 2 * this.due.size + 64) this.rebuild();
  }

  private rebuild(): void {
    const live: Node[] = [];
    const seen = new Set<string>();
    for (const node of this.nodes) {
      if (this.due.get(node.id) === node.dueMs && !seen.has(node.id)) {
        seen.add(node.id);
        live.push(node);
      }
    }
    this.nodes = live;
    for (let i = (live.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private push(node: Node): void {
    this.nodes.push(node);
    this.up(this.nodes.length - 1);
  }

  private pop(): void {
    const last = this.nodes.pop()!;
    if (this.nodes.length) {
      this.nodes[0] = last;
      this.down(0);
    }
  }

  private up(i: number): void {
    const nodes = this.nodes;
    const node = nodes[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(node, nodes[parent]!)) break;
      nodes[i] = nodes[parent]!;
      i = parent;
    }
    nodes[i] = node;
  }

  private down(i: number): void {
    const nodes = this.nodes;
    const node = nodes[i]!;
    const n = nodes.length;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(nodes[child + 1]!, nodes[child]!)) child++;
      if (!before(nodes[child]!, node)) break;
      nodes[i] = nodes[child]!;
      i = child;
    }
    nodes[i] = node;
  }
}

function before(a: Node, b: Node): boolean {
  return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.id < b.id);
}
