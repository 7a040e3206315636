/*
 * The legend (`uvm explain`, docs/legend.md): the same text in both places
 * (UPDATE_GOLDEN=1 rewrites the doc), and it covers what the dumps print.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { VmSystem } from '../src/sys/system.ts';
import { COUNTERS, explain } from '../src/tools/legend.ts';

const DOC = new URL('../docs/legend.md', import.meta.url);
const HEAD =
  '# What the dumps and counters mean\n\nThe text `uvm explain` prints (`uvm explain WORD` for the entries named like WORD).\n\n```\n';

describe('the legend', () => {
  it('docs/legend.md holds exactly what uvm explain prints', () => {
    const text = `${HEAD}${explain().join('\n')}\n\`\`\`\n`;
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(DOC, text);
    assert.equal(readFileSync(DOC, 'utf8'), text);
  });

  it('explains every counter a system shows, and nothing else', () => {
    const shown = Object.keys(new VmSystem({ physPages: 64, swapPages: 0 }).counters).sort();
    assert.deepEqual(Object.keys(COUNTERS).sort(), shown);
  });

  it('finds a term or counter by a word, and nothing for an unknown one', () => {
    assert.ok(explain('an_ref').some((l) => l.includes('copy-on-write')));
    assert.ok(explain('flt_acow').some((l) => l.includes('flt_acow')));
    assert.deepEqual(explain('nosuchword'), []);
  });
});
