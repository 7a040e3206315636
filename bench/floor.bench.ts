/*
 * floor.bench.ts: the floor of a zero-fill fault in JS, measured: a flat
 * model of one (no map, no layers, no checks, no counters) beside clearing
 * a cold page in the same run. It tells how much of `zero-fill fault vs
 * clearing a cold page` any fault path could win, and what the order of
 * the frames it is given costs (docs/architecture.md, "What a <= 2 fault
 * would take").
 *
 * One model fault at virtual page v: pop the head of the free frame list,
 * clear the frame, pop an anon off its free list and point it at the
 * frame, put the anon in amap slot v (with its back pointer and the used
 * list), append the frame to the active queue, write the PTE and the pv
 * word; then the access stores one byte. Every field is its own typed
 * array, as PhysMem and AnonPool keep them. Before each pass every page
 * is unmapped and the free list refilled in ascending or descending frame
 * order.
 */
import { median } from './kernel.bench.ts';

const PS = 4096;
const NONE = -1;

/** The flat model: frames, anons, one amap, one page table. */
class FloorModel {
  private readonly bytes: Uint8Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly flags: Uint8Array;
  private readonly owner: Int32Array;
  private readonly pvh: Float64Array;
  private readonly anonLink: Int32Array;
  private readonly anonPage: Int32Array;
  private readonly anonLock: Int32Array;
  private readonly anonSwslot: Int32Array;
  private readonly amapAnon: Int32Array;
  private readonly amapSlots: Int32Array;
  private readonly amapBckptr: Int32Array;
  private readonly pte: Int32Array;
  private freeHead = NONE;
  private anonHead = 0;
  private activeTail = NONE;
  private nused = 0;

  constructor(
    private readonly pages: number,
    private readonly ascending: boolean,
  ) {
    this.bytes = new Uint8Array(pages * PS);
    this.next = new Int32Array(pages);
    this.prev = new Int32Array(pages);
    this.flags = new Uint8Array(pages);
    this.owner = new Int32Array(pages);
    this.pvh = new Float64Array(pages);
    this.anonLink = new Int32Array(pages + 1);
    this.anonPage = new Int32Array(pages + 1);
    this.anonLock = new Int32Array(pages + 1);
    this.anonSwslot = new Int32Array(pages + 1);
    this.amapAnon = new Int32Array(pages);
    this.amapSlots = new Int32Array(pages);
    this.amapBckptr = new Int32Array(pages);
    this.pte = new Int32Array(pages);
  }

  /** reset: nothing mapped, every frame free (in the model's order), every anon free. */
  private reset(): void {
    this.freeHead = NONE;
    for (let i = 0; i < this.pages; i++) {
      const pg = this.ascending ? this.pages - 1 - i : i;
      this.next[pg] = this.freeHead;
      this.freeHead = pg;
    }
    for (let an = 1; an <= this.pages; an++) this.anonLink[an] = an < this.pages ? an + 1 : 0;
    this.anonHead = 1;
    this.activeTail = NONE;
    this.nused = 0;
  }

  /** pass: one model fault on every page => ns per fault. */
  pass(): number {
    this.reset();
    const s = process.hrtime.bigint();
    for (let v = 0; v < this.pages; v++) this.fault(v);
    return Number(process.hrtime.bigint() - s) / this.pages;
  }

  private fault(v: number): void {
    const pg = this.freeHead;
    this.freeHead = this.next[pg];
    this.bytes.fill(0, pg * PS, pg * PS + PS);
    const an = this.anonHead;
    this.anonHead = this.anonLink[an];
    this.anonLink[an] = 1; /* an_ref */
    this.anonPage[an] = pg;
    this.anonLock[an] = 1;
    this.anonSwslot[an] = 0;
    this.owner[pg] = an;
    this.flags[pg] = 0;
    this.prev[pg] = this.activeTail;
    this.next[pg] = NONE;
    if (this.activeTail !== NONE) this.next[this.activeTail] = pg;
    this.activeTail = pg;
    this.pvh[pg] = v + 1;
    this.amapAnon[v] = an;
    this.amapBckptr[v] = this.nused;
    this.amapSlots[this.nused++] = v;
    this.pte[v] = ((pg + 1) << 4) | 3;
    this.bytes[pg * PS] = 1;
  }
}

/** The two floor rows' names, by the order frames are taken in. */
export const FLOOR_ROWS = {
  ascending: 'zero-fill fault floor: flat model, frames taken in ascending order',
  descending: 'zero-fill fault floor: flat model, frames taken in descending order',
} as const;

/**
 * floorFault: ns per model zero-fill fault over `mib` MiB, frames taken
 * in `order`, the median of `reps` passes after a warm-up.
 */
export function floorFault(order: keyof typeof FLOOR_ROWS, mib: number, reps: number): number {
  const model = new FloorModel((mib << 20) / PS, order === 'ascending');
  return median(() => model.pass(), reps);
}
