/*
 * vnode.ts: files as UVM objects (uvm_vnode.c): the page cache of a file.
 *
 *   Vnode
 *     file     the host file (real in Node, in memory in a browser)
 *     pages    page index -> frame, holding the file's bytes
 *
 *   a fault reads the file's page (the tail of the last page past the end
 *   of the file reads zeros; a page wholly past the end is SIGBUS); a page
 *   written through a MAP_SHARED mapping is dirty until msync or the
 *   pagedaemon writes it back (never past the end of the file); private
 *   mappings copy pages into anons and never write the file.
 *
 *   FileHandle: what sys.open gives: the file and the protection its open
 *   mode allows a shared mapping ('r': read and execute; 'r+': all).
 */
import type { HostFile } from './host.ts';
import { objectDetach, objectReference, type PagerError, UvmObject } from './object.ts';
import { type Frame, PROT_ALL, PROT_EXEC, PROT_READ, vmerr } from './param.ts';
import type { Uvm } from './uvm.ts';

/** What mmap maps from a file: the object and the protection its opening allows. */
export interface MappableFile {
  /** the object holding the file's pages */
  object(): UvmObject;
  /** the largest protection a MAP_SHARED mapping may have (the open mode) */
  readonly maxSharedProt: number;
  readonly path: string;
}

/** A file's pages. */
export class Vnode extends UvmObject {
  constructor(
    uvm: Uvm,
    private file: HostFile,
    public writable: boolean,
  ) {
    super(uvm, file.size(), file.path);
  }

  /** reopen: the file was opened again, for writing; same pages. */
  reopen(file: HostFile, writable: boolean): void {
    this.file.close();
    this.file = file;
    this.writable = writable;
  }

  override get kind(): string {
    return 'vnode';
  }

  override get inode(): number {
    return this.file.inode;
  }

  /** size follows the file */
  override get pageCount(): number {
    this.size = this.file.size();
    return Math.ceil(this.size / this.uvm.pageSize);
  }

  /** fill: the file's bytes for page idx; the rest of a last page stays zero. */
  protected override fill(idx: number, pg: Frame): 0 | PagerError {
    const ps = this.uvm.pageSize;
    const n = Math.min(ps, this.size - idx * ps);
    const dst = this.uvm.pages.bytes.subarray(pg * ps, pg * ps + n);
    if (this.file.read(idx * ps, dst) < 0) return 'EIO';
    this.markClean(pg);
    this.uvm.exp.vnodepageins++;
    this.uvm.hist?.emit({ type: 'pagein', frame: pg, anon: 0, object: this.id, slot: 0 });
    return 0;
  }

  /**
   * writeBack: write page idx (frame pg) to the file, up to its end.
   * => false on an I/O error (the page stays dirty).
   */
  private writeBack(idx: number, pg: Frame): boolean {
    const ps = this.uvm.pageSize;
    const n = Math.min(ps, this.file.size() - idx * ps);
    if (n > 0 && !this.file.write(idx * ps, this.uvm.pages.bytes.subarray(pg * ps, pg * ps + n))) {
      this.uvm.exp.vnodeioerrs++;
      return false;
    }
    this.markClean(pg);
    this.uvm.exp.vnodepageouts++;
    this.uvm.hist?.emit({ type: 'pageout', frame: pg, anon: 0, object: this.id, slot: 0 });
    return true;
  }

  /** pgoPut: write the dirty pages of [from, to) back (msync, vm_map_clean). */
  override pgoPut(from: number, to: number): 0 | 'EIO' {
    for (const [idx, pg] of this.pages) {
      if (idx < from || idx >= to || !this.isDirty(pg)) continue;
      if (!this.writeBack(idx, pg)) return 'EIO';
    }
    return 0;
  }

  /**
   * invalidate: drop the clean, unwired pages of [from, to), so the next
   * access reads the file again (MS_INVALIDATE).
   */
  override invalidate(from: number, to: number): void {
    for (const [idx, pg] of [...this.pages]) {
      if (idx >= from && idx < to && !this.isDirty(pg) && this.uvm.pages.wireCount(pg) === 0)
        this.releasePage(idx);
    }
  }

  /** pageout: a dirty page is written back first. */
  override pageout(idx: number, pg: Frame): 'freed' | 'kept' | 'EIO' {
    if (this.isDirty(pg) && !this.writeBack(idx, pg)) return 'EIO';
    this.releasePage(idx);
    return 'freed';
  }

  /** terminate: write everything back, free the pages, close the file. */
  override terminate(): void {
    this.pgoPut(0, Number.MAX_SAFE_INTEGER);
    super.terminate();
    this.file.close();
  }
}

/** An open file, as mmap takes it in the place of a descriptor. */
export class FileHandle implements MappableFile {
  readonly maxSharedProt: number;
  private open = true;

  constructor(
    private readonly uvm: Uvm,
    private readonly vnode: Vnode,
    readonly writable: boolean,
  ) {
    this.maxSharedProt = writable ? PROT_ALL : PROT_READ | PROT_EXEC;
  }

  get path(): string {
    return this.vnode.name;
  }

  /** object: the file's vnode; a mapping takes its own reference. */
  object(): UvmObject {
    if (!this.open) throw vmerr('EBADF', 'mmap', 'fd', `${this.path} is closed`);
    return this.vnode;
  }

  /** close: drop the handle's reference; mappings keep theirs. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    objectDetach(this.uvm, this.vnode);
  }
}

/** The vnodes in use, one per path, shared by every open and mapping of the file. */
export class VnodeCache {
  private readonly live = new Map<string, Vnode>();

  constructor(
    private readonly uvm: Uvm,
    private readonly openFile: (path: string, writable: boolean) => HostFile | null,
  ) {}

  /**
   * get: a new reference to the vnode for path, opening the file if
   * needed (for writing when `writable`); null when it cannot be opened so.
   */
  get(path: string, writable: boolean): Vnode | null {
    const v = this.live.get(path);
    if (v !== undefined && v.refs > 0 && (!writable || v.writable)) {
      objectReference(v);
      return v;
    }
    const f = this.openFile(path, writable);
    if (f === null) return null;
    if (v !== undefined && v.refs > 0) {
      v.reopen(f, writable);
      objectReference(v);
      return v;
    }
    const nv = new Vnode(this.uvm, f, writable);
    this.live.set(path, nv);
    return nv;
  }
}
