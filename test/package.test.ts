/*
 * The package as other code loads it: the root bundles for a browser with
 * no Node module pulled in and no global state changed on import; the Node
 * entry (uvm-ts/node) is what brings Node's file system.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { build } from 'esbuild';

/** bundle: the entry bundled for a browser; the errors esbuild reports. */
async function bundle(entry: string): Promise<{ errors: string[]; bytes: number }> {
  try {
    const r = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    return { errors: [], bytes: r.outputFiles[0].contents.length };
  } catch (e) {
    const errors = (e as { errors?: { text: string }[] }).errors ?? [];
    return { errors: errors.map((x) => x.text), bytes: 0 };
  }
}

describe('the package', () => {
  it('root bundles for a browser without any Node builtin', async () => {
    const r = await bundle('src/index.ts');
    assert.deepEqual(r.errors, []);
    assert.ok(r.bytes > 50_000, `${r.bytes} bytes`);
  });

  it('node entry does pull Node builtins in (so the check above can fail)', async () => {
    const r = await bundle('src/node.ts');
    assert.ok(
      r.errors.some((t) => /node:fs|"fs"/.test(t)),
      r.errors.join('\n'),
    );
  });

  it('root import changes no global state: a system keeps its files in memory', async () => {
    const { VmSystem, MemoryHost } = await import('../src/index.ts');
    const sys = new VmSystem({ physPages: 64, swapPages: 0 });
    assert.ok(sys.host instanceof MemoryHost);
  });
});
