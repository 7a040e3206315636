/*
 * host.ts: what the kernel needs of the machine it runs on: files to map
 * and files to swap to. The core never touches Node's APIs; a Host does.
 *
 *   Host
 *     open(path, writable)     a HostFile, or null if there is no such file
 *     createSwap(path, bytes)  a new file of that size for a swap device
 *     remove(path)             delete a file the system made
 *
 *   MemoryHost: files in memory (the browser, and tests that want no disk);
 *               faults(path) makes the next reads or writes of a path fail,
 *               whichever open of it they go through
 *   FaultInjector: the failures to come, of a file or a swap store
 *   node/host.ts: NodeHost, the real file system
 */

/** Makes a store's next reads or writes fail, for testing error paths. */
export class FaultInjector {
  failReads = 0;
  failWrites = 0;

  /** takeRead: true when this read must fail (and counts it down). */
  takeRead(): boolean {
    if (this.failReads <= 0) return false;
    this.failReads--;
    return true;
  }

  /** takeWrite: true when this write must fail (and counts it down). */
  takeWrite(): boolean {
    if (this.failWrites <= 0) return false;
    this.failWrites--;
    return true;
  }
}

/** An open file, page-granular I/O by byte offset. */
export interface HostFile {
  readonly path: string;
  /** the file's size in bytes, now */
  size(): number;
  /** an identity for maps' inode column */
  readonly inode: number;
  /** read up to dst.length bytes at `offset`; returns the bytes read, or -1 on an I/O error */
  read(offset: number, dst: Uint8Array): number;
  /** write src at `offset`; returns false on an I/O error */
  write(offset: number, src: Uint8Array): boolean;
  close(): void;
  /** make the next reads or writes fail, for tests */
  readonly faults: FaultInjector;
}

/** The machine's file system, as the kernel sees it. */
export interface Host {
  open(path: string, writable: boolean): HostFile | null;
  createSwap(path: string, bytes: number): HostFile;
  remove(path: string): void;
}

/** A file held in memory. */
class MemoryFile implements HostFile {
  constructor(
    readonly path: string,
    readonly inode: number,
    private readonly store: { bytes: Uint8Array },
    readonly faults: FaultInjector,
  ) {}

  size(): number {
    return this.store.bytes.length;
  }

  read(offset: number, dst: Uint8Array): number {
    if (this.faults.takeRead()) return -1;
    const src = this.store.bytes.subarray(offset, offset + dst.length);
    dst.set(src);
    return src.length;
  }

  write(offset: number, src: Uint8Array): boolean {
    if (this.faults.takeWrite()) return false;
    const need = offset + src.length;
    if (need > this.store.bytes.length) {
      const grown = new Uint8Array(need);
      grown.set(this.store.bytes);
      this.store.bytes = grown;
    }
    this.store.bytes.set(src, offset);
    return true;
  }

  close(): void {}
}

/** Files in memory: the browser's file system, and tests'. */
export class MemoryHost implements Host {
  private readonly files = new Map<string, { bytes: Uint8Array; inode: number }>();
  private readonly injectors = new Map<string, FaultInjector>();
  private nextInode = 1000;

  /** put: create or replace a file's contents. */
  put(path: string, bytes: Uint8Array): void {
    this.files.set(path, { bytes: bytes.slice(), inode: this.nextInode++ });
  }

  /** get: a copy of a file's contents, or undefined. */
  get(path: string): Uint8Array | undefined {
    return this.files.get(path)?.bytes.slice();
  }

  /** faults: the injector of every open of `path` (made on first use). */
  faults(path: string): FaultInjector {
    let f = this.injectors.get(path);
    if (f === undefined) {
      f = new FaultInjector();
      this.injectors.set(path, f);
    }
    return f;
  }

  open(path: string): HostFile | null {
    const f = this.files.get(path);
    return f ? new MemoryFile(path, f.inode, f, this.faults(path)) : null;
  }

  createSwap(path: string, bytes: number): HostFile {
    this.put(path, new Uint8Array(bytes));
    return this.open(path)!;
  }

  remove(path: string): void {
    this.files.delete(path);
  }
}
