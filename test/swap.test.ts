/*
 * Swap (src/kernel/swap.ts) on its own: devices and their global slot
 * numbers, priorities, next-fit allocation, freeing, the stores (in memory
 * and on a host's file) with injected failures, and the two halves of
 * swapoff.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { amapAlloc, amapSwapOff, type VmAref } from '../src/kernel/amap.ts';
import { anonAlloc } from '../src/kernel/anon.ts';
import { FaultInjector, MemoryHost } from '../src/kernel/host.ts';
import {
  NOPAGE,
  PG_CLEAN,
  PMAP_MODIFIED,
  pageAlloc,
  pageFree,
  pageWire,
} from '../src/kernel/page.ts';
import {
  type AnonId,
  type Frame,
  KernelPanic,
  MAP_ANON,
  MAP_PRIVATE,
  NOSLOT,
  PROT_READ,
  PROT_WRITE,
  type SwapSlot,
} from '../src/kernel/param.ts';
import {
  auditSwap,
  type BackingStore,
  FileStore,
  MemoryStore,
  SWF_ENABLE,
  type SwapDevice,
  swapAlloc,
  swapFree,
  swapGet,
  swapOffBegin,
  swapOffEnd,
  swapPut,
  swapSlotLive,
} from '../src/kernel/swap.ts';
import { Uvm } from '../src/kernel/uvm.ts';
import { VnodeCache } from '../src/kernel/vnode.ts';
import { VmSystem } from '../src/sys/system.ts';
import { anonByte, auditAll, put, throwsVm } from './helpers.ts';

const PS = 4096;
const slot = (n: number) => n as SwapSlot;

/** kernel: a kernel with no swap device of its own. */
function kernel(physPages = 16): Uvm {
  return new Uvm({ physPages, swapPages: 0 });
}

function device(uvm: Uvm, npages: number, priority = 0): SwapDevice {
  return uvm.swap.addDevice(uvm, npages, priority, new MemoryStore(npages, PS));
}

/** allocOn: a slot on device `dev`, whatever the others' priorities. */
function allocOn(uvm: Uvm, dev: SwapDevice): SwapSlot {
  const others = uvm.swap.devices.filter((d) => d !== dev && d.flags & SWF_ENABLE);
  for (const d of others) d.flags &= ~SWF_ENABLE;
  const s = swapAlloc(uvm);
  for (const d of others) d.flags |= SWF_ENABLE;
  assert.ok(dev.owns(s));
  return s;
}

/** frame: a frame owned by a fresh anon, filled with `fill` (for put and get). */
function frame(uvm: Uvm, fill: number): Frame {
  const pg = pageAlloc(uvm, 0, 0, anonAlloc(uvm), 0);
  assert.notEqual(pg, NOPAGE);
  uvm.pages.bytes.fill(fill, pg * PS, (pg + 1) * PS);
  return pg;
}

/** A store that records its closes. */
class RecordingStore implements BackingStore {
  readonly name = 'recording';
  closed = 0;
  read(): boolean {
    return true;
  }
  write(): boolean {
    return true;
  }
  close(): void {
    this.closed++;
  }
}

describe('devices and slots', () => {
  it('slot numbers are global: each device owns the range after the last; 0 is no slot', () => {
    const uvm = kernel();
    const a = device(uvm, 10);
    const b = device(uvm, 5);
    assert.deepEqual([a.base, a.npages, b.base, b.npages], [1, 10, 11, 5]);
    assert.equal(uvm.exp.swpages, 15);
    assert.equal(uvm.exp.nswapdev, 2);
    const owner = (n: number) => {
      const d = uvm.swap.deviceOf(slot(n));
      return d === a ? 'a' : d === b ? 'b' : d === undefined ? '-' : '?';
    };
    assert.deepEqual([0, 1, 10, 11, 15, 16].map(owner), ['-', 'a', 'a', 'b', 'b', '-']);
    assert.ok(a.owns(slot(10)) && !a.owns(slot(11)) && !b.owns(slot(10)));
    uvm.swap.removeDevice(uvm, a);
    const c = device(uvm, 4);
    assert.equal(c.base, 16, "a removed device's numbers are not given out again");
    assert.equal(owner(1), '-');
    assert.deepEqual([uvm.exp.swpages, uvm.exp.nswapdev], [9, 2]);
    auditSwap(uvm);
  });

  it('a device needs a positive whole number of pages (EINVAL, nothing added)', () => {
    const uvm = kernel();
    for (const n of [0, -1, 2.5, Number.NaN])
      throwsVm(() => uvm.swap.addDevice(uvm, n, 0, new RecordingStore()), 'EINVAL', 'pages');
    assert.equal(uvm.swap.devices.length, 0);
    assert.deepEqual([uvm.exp.swpages, uvm.exp.nswapdev], [0, 0]);
  });

  it('higher priorities are used first; equal ones in the order they were added', () => {
    const uvm = kernel();
    const low = device(uvm, 2, 0);
    const high = device(uvm, 2, 7);
    const mid1 = device(uvm, 1, 3);
    const mid2 = device(uvm, 1, 3);
    assert.deepEqual(uvm.swap.devices, [high, mid1, mid2, low]);
    const order = [];
    for (let i = 0; i < 6; i++) {
      const s = swapAlloc(uvm);
      order.push(uvm.swap.deviceOf(s));
    }
    assert.deepEqual(order, [high, high, mid1, mid2, low, low]);
    assert.equal(swapAlloc(uvm), NOSLOT);
    auditSwap(uvm);
  });

  it('next fit: the rotor moves past a freed slot, then wraps round to it', () => {
    const uvm = kernel();
    const d = device(uvm, 4);
    assert.deepEqual([swapAlloc(uvm), swapAlloc(uvm), swapAlloc(uvm)], [1, 2, 3]);
    swapFree(uvm, slot(1));
    assert.equal(d.rotor, 3);
    assert.equal(swapAlloc(uvm), 4, 'not the freed slot 1');
    assert.equal(swapAlloc(uvm), 1, 'wrapped round');
    assert.equal(swapAlloc(uvm), NOSLOT);
    swapFree(uvm, slot(3));
    assert.equal(swapAlloc(uvm), 3);
    assert.equal(d.nfree, 0);
    assert.equal(uvm.exp.swpginuse, 4);
    auditSwap(uvm);
  });

  it('swapAlloc returns NOSLOT when every device is full or disabled, changing nothing', () => {
    const uvm = kernel();
    assert.equal(swapAlloc(uvm), NOSLOT, 'no device');
    const full = device(uvm, 1, 5);
    const off = device(uvm, 3, 1);
    assert.equal(swapAlloc(uvm), 1);
    off.flags &= ~SWF_ENABLE;
    const before = [full.nfree, off.nfree, full.rotor, off.rotor, uvm.exp.swpginuse];
    assert.equal(swapAlloc(uvm), NOSLOT);
    assert.deepEqual([full.nfree, off.nfree, full.rotor, off.rotor, uvm.exp.swpginuse], before);
    off.flags |= SWF_ENABLE;
    assert.equal(uvm.swap.deviceOf(swapAlloc(uvm)), off);
  });

  it('swapFree frees a run of slots; a free slot or one of no device is a KernelPanic', () => {
    const uvm = kernel();
    const d = device(uvm, 8);
    for (let i = 0; i < 5; i++) swapAlloc(uvm);
    swapFree(uvm, slot(2), 3);
    assert.deepEqual(Array.from(d.inuse), [1, 0, 0, 0, 1, 0, 0, 0]);
    assert.deepEqual([d.nfree, uvm.exp.swpginuse], [6, 2]);
    assert.throws(() => swapFree(uvm, slot(3)), KernelPanic, 'already free');
    assert.throws(() => swapFree(uvm, slot(6)), KernelPanic, 'never allocated');
    assert.throws(() => swapFree(uvm, NOSLOT), KernelPanic, 'slot 0');
    assert.throws(() => swapFree(uvm, slot(9)), KernelPanic, 'past every device');
    assert.deepEqual([d.nfree, uvm.exp.swpginuse], [6, 2], 'the refused frees changed nothing');
    auditSwap(uvm);
  });

  it('a device goes only with every slot free, closing its store; a disabled one is not counted twice', () => {
    const uvm = kernel();
    const store = new RecordingStore();
    const d = uvm.swap.addDevice(uvm, 4, 0, store);
    const keep = device(uvm, 2);
    const s = swapAlloc(uvm);
    assert.throws(() => uvm.swap.removeDevice(uvm, d), KernelPanic);
    assert.equal(uvm.swap.devices.length, 2);
    swapFree(uvm, s);
    assert.equal(swapOffBegin(uvm, d), 0);
    assert.equal(uvm.exp.swpages, 2, 'disabled: its pages no longer count');
    uvm.swap.removeDevice(uvm, d);
    assert.deepEqual(uvm.swap.devices, [keep]);
    assert.deepEqual([uvm.exp.swpages, uvm.exp.nswapdev, store.closed], [2, 1, 1]);
    auditSwap(uvm);
  });
});

describe('swapPut and swapGet', () => {
  it("a frame written to a slot reads back into another frame, at the slot's place on its device", () => {
    const uvm = kernel();
    device(uvm, 4);
    const second = device(uvm, 4);
    const a = swapAlloc(uvm);
    second.flags &= ~SWF_ENABLE;
    const b = swapAlloc(uvm);
    second.flags |= SWF_ENABLE;
    for (let i = 0; i < 3; i++) swapAlloc(uvm);
    const c = swapAlloc(uvm);
    assert.equal(uvm.swap.deviceOf(c), second);
    const src = [frame(uvm, 0xa0), frame(uvm, 0xb0), frame(uvm, 0xc0)];
    assert.ok(swapPut(uvm, a, src[0]) && swapPut(uvm, b, src[1]) && swapPut(uvm, c, src[2]));
    assert.equal(uvm.exp.swapouts, 3);
    const dst = frame(uvm, 0);
    for (const [i, s] of [a, b, c].entries()) {
      assert.ok(swapGet(uvm, s, dst));
      assert.ok(uvm.pages.view(dst).every((x) => x === 0xa0 + 0x10 * i));
    }
    assert.equal(uvm.exp.swapins, 3);
    const buf = new Uint8Array(PS);
    assert.ok(second.store.read(c - second.base, buf, 0));
    assert.equal(buf[0], 0xc0, 'slot c is page c - base of its device');
  });

  it('a failed write is counted and leaves the slot holding what it held', () => {
    const uvm = kernel();
    const d = device(uvm, 4);
    const store = d.store as MemoryStore;
    const s = swapAlloc(uvm);
    assert.ok(swapPut(uvm, s, frame(uvm, 1)));
    store.faults.failWrites = 2;
    const two = frame(uvm, 2);
    assert.equal(swapPut(uvm, s, two), false);
    assert.equal(swapPut(uvm, s, two), false);
    assert.equal(store.faults.failWrites, 0, 'each failure counted down');
    assert.deepEqual([uvm.exp.swapouts, uvm.exp.swapioerrs], [1, 2]);
    const out = frame(uvm, 0);
    assert.ok(swapGet(uvm, s, out));
    assert.equal(uvm.pages.bytes[out * PS], 1, 'the old contents');
    assert.ok(swapPut(uvm, s, two), 'the next write succeeds');
    assert.ok(swapGet(uvm, s, out));
    assert.equal(uvm.pages.bytes[out * PS], 2);
  });

  it('a failed read leaves the frame untouched and the data there for a retry', () => {
    const uvm = kernel();
    const store = device(uvm, 4).store as MemoryStore;
    const s = swapAlloc(uvm);
    assert.ok(swapPut(uvm, s, frame(uvm, 7)));
    const out = frame(uvm, 9);
    store.faults.failReads = 1;
    assert.equal(swapGet(uvm, s, out), false);
    assert.ok(uvm.pages.view(out).every((x) => x === 9));
    assert.deepEqual([uvm.exp.swapins, uvm.exp.swapioerrs], [0, 1]);
    assert.ok(swapGet(uvm, s, out));
    assert.ok(uvm.pages.view(out).every((x) => x === 7));
    assert.equal(store.faults.failWrites, 0, 'reads and writes are counted apart');
  });

  it('a put or get of a slot not allocated is a KernelPanic', () => {
    const uvm = kernel();
    device(uvm, 4);
    const pg = frame(uvm, 1);
    assert.throws(() => swapPut(uvm, slot(2), pg), KernelPanic);
    assert.throws(() => swapGet(uvm, slot(2), pg), KernelPanic);
    assert.throws(() => swapPut(uvm, slot(99), pg), KernelPanic);
    assert.deepEqual([uvm.exp.swapouts, uvm.exp.swapins, uvm.exp.swapioerrs], [0, 0, 0]);
  });

  it('the fault injector fails exactly as many reads and writes as it is told', () => {
    const f = new FaultInjector();
    assert.equal(f.takeRead() || f.takeWrite(), false);
    f.failReads = 2;
    f.failWrites = 1;
    assert.deepEqual(
      [f.takeWrite(), f.takeRead(), f.takeWrite(), f.takeRead(), f.takeRead()],
      [true, true, false, true, false],
    );
    f.failReads = -3;
    assert.equal(f.takeRead(), false, 'a negative count fails nothing');
  });
});

describe('stores', () => {
  it('a memory store keeps pages apart and refuses more than a buffer holds', () => {
    const m = new MemoryStore(3, 512);
    assert.equal(m.name, 'memory');
    assert.ok(m.write(1, new Uint8Array(1024).fill(5), 512));
    const out = new Uint8Array(1536).fill(0xff);
    for (let i = 0; i < 3; i++) assert.ok(m.read(i, out, i * 512));
    assert.deepEqual([out[0], out[511], out[512], out[1023], out[1024]], [0, 0, 5, 5, 0]);
    throwsVm(() => new MemoryStore(2 ** 20 + 1, 4096), 'EINVAL', 'pages');
  });

  it("a file store on a MemoryHost writes the host's file at the slot's offset, and the file goes with the device", () => {
    const uvm = kernel();
    const host = new MemoryHost();
    const file = host.createSwap('/swap0', 4 * PS);
    const store = new FileStore(file, PS, true, () => host.remove('/swap0'));
    assert.equal(store.name, '/swap0');
    assert.equal(store.faults, host.faults('/swap0'), "the host's injector for that path");
    const d = uvm.swap.addDevice(uvm, 4, 0, store);
    swapAlloc(uvm);
    const s = swapAlloc(uvm);
    assert.ok(swapPut(uvm, s, frame(uvm, 0x3c)));
    const bytes = host.get('/swap0')!;
    assert.equal(bytes.length, 4 * PS);
    assert.ok(bytes.subarray(PS, 2 * PS).every((x) => x === 0x3c));
    assert.ok(bytes.subarray(0, PS).every((x) => x === 0));
    const out = frame(uvm, 0);
    host.faults('/swap0').failReads = 1;
    assert.equal(swapGet(uvm, s, out), false);
    assert.ok(swapGet(uvm, s, out));
    assert.equal(uvm.pages.bytes[out * PS], 0x3c);
    host.faults('/swap0').failWrites = 1;
    assert.equal(swapPut(uvm, s, frame(uvm, 1)), false);
    assert.equal(host.get('/swap0')![PS], 0x3c);
    swapFree(uvm, slot(1), 2);
    uvm.swap.removeDevice(uvm, d);
    assert.equal(host.get('/swap0'), undefined, 'removed with the device');
  });

  it('the system makes a swap file of the right size on its host, pages to it, and removes it', () => {
    const host = new MemoryHost();
    const sys = new VmSystem({ physPages: 32, swapPages: 0, host });
    const d = sys.swapon({ pages: 64, file: '/swapfile' });
    assert.equal(host.get('/swapfile')!.length, 64 * PS);
    const p = sys.spawn();
    const a = p.mmap(0, 48 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON);
    for (let i = 0; i < 48; i++) p.write(a + i * PS, new Uint8Array(PS).fill(i + 1));
    assert.ok(d.inuseCount > 0);
    const file = host.get('/swapfile')!;
    assert.ok(
      file.some((x) => x !== 0),
      'pages reached the file',
    );
    p.munmap(a, 40 * PS);
    sys.swapoff(d);
    assert.equal(host.get('/swapfile'), undefined);
    assert.equal(sys.uvm.swap.devices.length, 0);
    for (let i = 40; i < 48; i++) assert.equal(p.read(a + i * PS, 1)[0], i + 1);
    throwsVm(() => sys.swapoff(d), 'EINVAL', 'device');
    sys.audit();
  });
});

describe('swapSlotLive', () => {
  it('a slot is live on an enabled device only', () => {
    const uvm = kernel();
    const d = device(uvm, 2);
    const s = swapAlloc(uvm);
    assert.equal(swapSlotLive(uvm, s), true);
    d.flags &= ~SWF_ENABLE;
    assert.equal(swapSlotLive(uvm, s), false, 'its device is being swapped off');
    d.flags |= SWF_ENABLE;
    assert.equal(swapSlotLive(uvm, NOSLOT), false);
    assert.equal(swapSlotLive(uvm, slot(3)), false, 'no device');
  });
});

describe('swapoff', () => {
  /** A kernel with anons to page out: one amap, anons put at successive pages. */
  function bed(physPages = 16) {
    const uvm = kernel(physPages);
    const aref: VmAref = { amap: amapAlloc(uvm, 64 * PS), pageoff: 0 };
    let next = 0;
    const anon = (fill: number): AnonId => put(uvm, aref, next++, fill);
    /** out: page anon `an` out to a fresh slot (which must be on `dev`). */
    const out = (an: AnonId, dev: SwapDevice): void => {
      const s = swapAlloc(uvm);
      assert.ok(dev.owns(s));
      uvm.anons.swslot[an] = s;
      assert.ok(swapPut(uvm, s, uvm.anons.page[an]));
      pageFree(uvm, uvm.anons.page[an]);
      uvm.anons.page[an] = NOPAGE;
      uvm.exp.swpgonly++;
    };
    /** pressure: wire filler pages until `free` frames are free. */
    const pressure = (free: number): void => {
      while (uvm.pages.freeCount > free) pageWire(uvm, uvm.anons.page[anon(0xee)]);
      assert.equal(uvm.pages.freeCount, free);
    };
    return { uvm, aref, anon, out, pressure };
  }

  it('swapOffBegin is ENOMEM, changing nothing, exactly when memory cannot hold the pages', () => {
    /*
     * freemin 4; the device holds 3 pages. 7 free frames hold them, 6 do
     * not; with 6 free and one more page queued, the case turns on whether
     * that page can make room. The other device's one slot is in use.
     */
    type Setup = ReturnType<typeof bed> & { dev: SwapDevice; other: SwapDevice; taken: SwapSlot };
    const page = (s: Setup, slot: SwapSlot): AnonId => {
      const an = s.anon(1);
      s.uvm.anons.swslot[an] = slot;
      return an;
    };
    const cases: [string, number, (s: Setup) => void, 0 | 'ENOMEM'][] = [
      ['7 frames free', 7, () => {}, 0],
      ['6 frames free', 6, () => {}, 'ENOMEM'],
      ['a clean page whose copy is on another device', 6, (s) => void page(s, s.taken), 0],
      [
        'the same page, written since (modified)',
        6,
        (s) => {
          const an = page(s, s.taken);
          s.uvm.pages.attrs[s.uvm.anons.page[an]] |= PMAP_MODIFIED;
        },
        'ENOMEM',
      ],
      [
        'a clean page whose copy is on the device itself',
        6,
        (s) => void page(s, allocOn(s.uvm, s.dev)),
        'ENOMEM',
      ],
      [
        'a clean page whose copy is on the device needs no frame: 7 free still hold the other 3',
        7,
        (s) => void page(s, allocOn(s.uvm, s.dev)),
        0,
      ],
      ['a dirty page, the other device full', 6, (s) => dirty(s), 'ENOMEM'],
      [
        'a dirty page, the other device with a free slot',
        6,
        (s) => {
          dirty(s);
          swapFree(s.uvm, s.taken);
        },
        0,
      ],
      [
        'a clean page of a file',
        6,
        (s) => {
          const host = new MemoryHost();
          host.put('/f', new Uint8Array(PS));
          const v = new VnodeCache(s.uvm, (p) => host.open(p)).get('/f', false)!;
          assert.equal(typeof v.pgoGet(0), 'number');
        },
        0,
      ],
    ];
    function dirty(s: Setup): void {
      const an = s.anon(1);
      s.uvm.pages.flags[s.uvm.anons.page[an]] &= ~PG_CLEAN;
    }
    for (const [what, free, setup, want] of cases) {
      const b = bed();
      const dev = device(b.uvm, 8, 1);
      const other = device(b.uvm, 1, 0);
      for (const an of [b.anon(0x10), b.anon(0x11), b.anon(0x12)]) b.out(an, dev);
      const taken = allocOn(b.uvm, other);
      setup({ ...b, dev, other, taken });
      b.pressure(free);
      const before = [dev.flags, b.uvm.exp.swpages, dev.inuseCount];
      const r = swapOffBegin(b.uvm, dev);
      assert.equal(r, want, what);
      if (r === 'ENOMEM')
        assert.deepEqual([dev.flags, b.uvm.exp.swpages, dev.inuseCount], before, what);
      else assert.equal(dev.flags & SWF_ENABLE, 0, what);
    }
  });

  it('swapOffBegin disables the device; paged in, it is removed by swapOffEnd', () => {
    const b = bed(64);
    const dev = device(b.uvm, 8, 1);
    const other = device(b.uvm, 8, 0);
    const ans = [1, 2, 3].map((i) => b.anon(0x20 + i));
    for (const an of ans) b.out(an, dev);
    assert.equal(swapOffBegin(b.uvm, dev), 0);
    assert.equal(dev.flags & SWF_ENABLE, 0);
    assert.equal(b.uvm.exp.swpages, 8);
    assert.equal(b.uvm.swap.deviceOf(swapAlloc(b.uvm)), other, 'no new slot on it');
    swapFree(b.uvm, other.base as SwapSlot);
    auditSwap(b.uvm);
    const errs = b.uvm.exp.swapioerrs;
    assert.equal(amapSwapOff(b.uvm, dev.base, dev.base + dev.npages), false);
    assert.equal(dev.inuseCount, 0);
    assert.equal(swapOffEnd(b.uvm, dev, errs), 0);
    assert.deepEqual(b.uvm.swap.devices, [other]);
    assert.deepEqual([b.uvm.exp.swpages, b.uvm.exp.nswapdev], [8, 1]);
    for (const [i, an] of ans.entries()) {
      assert.notEqual(b.uvm.anons.page[an], NOPAGE);
      assert.equal(b.uvm.anons.swslot[an], NOSLOT);
      assert.equal(anonByte(b.uvm, an), 0x21 + i);
    }
    auditAll(b.uvm);
  });

  it('a read error: swapOffEnd says EIO and the device, enabled again, keeps what it holds', () => {
    const b = bed(64);
    const dev = device(b.uvm, 8);
    const ans = [1, 2, 3].map((i) => b.anon(0x30 + i));
    for (const an of ans) b.out(an, dev);
    assert.equal(swapOffBegin(b.uvm, dev), 0);
    const errs = b.uvm.exp.swapioerrs;
    (dev.store as MemoryStore).faults.failReads = 1;
    assert.equal(amapSwapOff(b.uvm, dev.base, dev.base + dev.npages), true);
    const left = dev.inuseCount;
    assert.ok(left >= 1);
    assert.equal(swapOffEnd(b.uvm, dev, errs), 'EIO');
    assert.equal(dev.flags & SWF_ENABLE, SWF_ENABLE);
    assert.equal(b.uvm.exp.swpages, 8);
    assert.deepEqual(b.uvm.swap.devices, [dev]);
    assert.equal(dev.inuseCount, left, 'nothing more on it');
    for (const [i, an] of ans.entries()) assert.equal(anonByte(b.uvm, an), 0x31 + i);
    auditAll(b.uvm);
  });

  it('pages still on it and no error: swapOffEnd says ENOMEM and the device is used again', () => {
    const b = bed(64);
    const dev = device(b.uvm, 4);
    b.out(b.anon(1), dev);
    assert.equal(swapOffBegin(b.uvm, dev), 0);
    assert.equal(swapAlloc(b.uvm), NOSLOT);
    assert.equal(swapOffEnd(b.uvm, dev, b.uvm.exp.swapioerrs), 'ENOMEM');
    assert.equal(b.uvm.exp.swpages, 4);
    const s = swapAlloc(b.uvm);
    assert.notEqual(s, NOSLOT, 'enabled again');
    swapFree(b.uvm, s);
    assert.equal(swapOffBegin(b.uvm, dev), 0);
    const errs = b.uvm.exp.swapioerrs;
    b.uvm.exp.swapioerrs++;
    assert.equal(swapOffEnd(b.uvm, dev, errs), 'EIO', 'an I/O error since the start');
    auditSwap(b.uvm);
  });
});

describe('auditSwap', () => {
  it('catches a wrong free count, a wrong uvmexp count, and a stray in-use byte', () => {
    const uvm = kernel();
    const d = device(uvm, 4);
    swapAlloc(uvm);
    auditSwap(uvm);
    const breakages: [string, () => void, () => void, RegExp][] = [
      ['nfree', () => d.nfree--, () => d.nfree++, /nfree/],
      ['swpginuse', () => uvm.exp.swpginuse++, () => uvm.exp.swpginuse--, /swpginuse/],
      ['swpages', () => uvm.exp.swpages--, () => uvm.exp.swpages++, /swpages/],
      ['inuse', () => (d.inuse[3] = 1), () => (d.inuse[3] = 0), /nfree/],
      ['disabled', () => (d.flags &= ~SWF_ENABLE), () => (d.flags |= SWF_ENABLE), /swpages/],
    ];
    for (const [what, breakIt, mend, msg] of breakages) {
      breakIt();
      assert.throws(
        () => auditSwap(uvm),
        (e: unknown) => e instanceof KernelPanic && msg.test(e.message),
        what,
      );
      mend();
      auditSwap(uvm);
    }
  });
});
