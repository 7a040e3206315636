/*
 * explorer/page.ts: the explorer's page: controls, and one render per
 * region (Step, Counters, Processes, Physical memory, Events) from the
 * session (session.ts) and the views (view.ts). The library runs here, in
 * the browser: nothing is precomputed, no server computes.
 *
 *   Load        the source in the editor, afresh (no command run yet)
 *   Step/Back   one command forwards / undone (ArrowRight / ArrowLeft
 *               when focus is not in the editor)
 *   Run to end, Reset
 *
 * The bundled scenarios come in at build time (scripts/build-explorer.mjs
 * defines __UVM_SCENARIOS__).
 */
import { hex } from '../kernel/param.ts';
import { formatEvent } from '../tools/trace.ts';
import {
  type RecordingFiles,
  RecordingStepper,
  ScenarioStepper,
  Session,
  type Shown,
} from './session.ts';
import {
  DETAIL_PAGES,
  type EntryBar,
  type EntryDetail,
  entryDetail,
  type FramesView,
  framesView,
  type ProcessView,
  processesView,
  swapView,
} from './view.ts';

declare const __UVM_SCENARIOS__: Record<string, string>;

/** the most events the Events region lists for one step */
const MAX_EVENTS = 400;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** What the page shows: the session, the scenario or recording loaded, the entry picked. */
interface State {
  session: Session;
  recording: RecordingFiles | null;
  picked: { pid: number; start: number } | null;
  last: Record<string, number>;
}

const state: State = {
  session: new Session(() => new ScenarioStepper('')),
  recording: null,
  picked: null,
  last: {},
};

/** el: an element with text and attributes. */
function el(tag: string, text = '', attrs: Record<string, string> = {}): HTMLElement {
  const e = document.createElement(tag);
  if (text !== '') e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** load: start `text` (a scenario, or the recording's log) afresh. */
function load(text: string): void {
  const rec = state.recording;
  state.session = new Session(() =>
    rec === null ? new ScenarioStepper(text) : new RecordingStepper({ ...rec, log: text }),
  );
  state.picked = null;
  state.last = {};
  render();
}

/** act: run a control's action, then redraw. */
function act(fn: (s: Session) => void): void {
  state.last = { ...state.session.counters };
  fn(state.session);
  render();
}

function render(): void {
  const s = state.session;
  $('position').textContent = `${s.pos} of ${s.total} commands run`;
  ($('step') as HTMLButtonElement).disabled = s.pos >= s.total || s.error !== null;
  ($('run') as HTMLButtonElement).disabled = s.pos >= s.total || s.error !== null;
  ($('back') as HTMLButtonElement).disabled = s.pos === 0 && s.error === null;
  renderAlert();
  renderStep(s.shown, s.pos);
  renderCounters(s.counters);
  renderProcesses();
  renderMemory();
  renderEvents(s.shown);
}

function renderAlert(): void {
  const a = $('alert');
  const err = state.session.error;
  a.hidden = err === null;
  a.textContent = err === null ? '' : `line ${err.line}: ${err.what}`;
}

function renderStep(shown: Shown | null, pos: number): void {
  const body = $('step-body');
  body.replaceChildren();
  if (shown === null || pos === 0) {
    body.append(el('p', 'No command has run yet: Step runs the first.', { class: 'muted' }));
    return;
  }
  const head = el('p');
  head.append(`line ${shown.line}: `, el('code', shown.command));
  body.append(head, el('pre', shown.output.join('\n') || '(no output)'));
}

function renderCounters(counters: Record<string, number>): void {
  const rows = Object.entries(counters).map(([name, v]) => {
    const tr = el('tr');
    if (state.last[name] !== undefined && state.last[name] !== v) tr.className = 'changed';
    tr.append(el('td', name), el('td', String(v)));
    return tr;
  });
  $('counters')
    .querySelector('tbody')!
    .replaceChildren(...rows);
}

function renderProcesses(): void {
  const procs = state.session.stepper.processes();
  const views = processesView(procs);
  const box = $('processes');
  box.replaceChildren(...views.map(processBlock));
  if (views.length === 0) box.append(el('p', 'No process yet.', { class: 'muted' }));
  const p = state.picked;
  const detail = p === null ? null : entryDetail(state.session.stepper.sys, procs, p.pid, p.start);
  renderDetail(detail);
}

function processBlock(v: ProcessView): HTMLElement {
  const block = el('div', '', { class: 'process' });
  block.append(el('h3', `${v.name} (pid ${v.pid}), ${v.rss} pages resident`));
  const bar = el('div', '', { class: 'bar', 'aria-hidden': 'true' });
  const list = el('ul', '', { class: 'rows mono', 'aria-label': `maps of ${v.name}` });
  for (const e of v.entries) {
    bar.append(barPiece(v.pid, e));
    const li = el('li');
    li.append(rowButton(v.pid, e));
    list.append(li);
  }
  block.append(bar, list);
  return block;
}

function isPicked(pid: number, e: EntryBar): boolean {
  return state.picked?.pid === pid && state.picked.start === e.start;
}

function barPiece(pid: number, e: EntryBar): HTMLElement {
  const cls = [e.nc ? 'nc' : '', isPicked(pid, e) ? 'sel' : ''].join(' ').trim();
  const piece = el('span', '', { title: e.row, class: cls });
  piece.style.left = `${e.left}%`;
  piece.style.width = `${e.width}%`;
  piece.onclick = () => pick(pid, e.start);
  return piece;
}

function rowButton(pid: number, e: EntryBar): HTMLElement {
  const b = el('button', e.row, { type: 'button', 'aria-pressed': String(isPicked(pid, e)) });
  if (e.nc) b.append(el('span', 'needs-copy', { class: 'mark nc' }));
  if (e.cow) b.append(el('span', 'copy-on-write', { class: 'mark cow' }));
  b.onclick = () => pick(pid, e.start);
  return b;
}

function pick(pid: number, start: number): void {
  state.picked = { pid, start };
  renderProcesses();
  renderMemory();
}

function renderDetail(d: EntryDetail | null): void {
  const box = $('detail');
  box.replaceChildren();
  if (d === null) {
    box.append(
      el('p', 'Pick an entry (click it, or Enter on its row) to see it down to its frames.', {
        class: 'muted',
      }),
    );
    return;
  }
  const e = d.entry;
  box.append(
    el('h3', `entry ${hex(e.start)}-${hex(e.end)} ${e.protection}/${e.maxProtection}`),
    el('p', detailFlags(d), { class: 'mono' }),
  );
  if (d.amap !== null)
    box.append(
      el(
        'p',
        `amap #${d.amap.id}: am_ref=${d.amap.am_ref} am_nslot=${d.amap.am_nslot} am_nused=${d.amap.am_nused}; ppref runs [from,to):refs ${d.amap.ppref}`,
        { class: 'mono' },
      ),
    );
  box.append(detailTable(d));
  if (d.more > 0)
    box.append(
      el('p', `... ${d.more} more pages (the first ${DETAIL_PAGES} are listed)`, {
        class: 'muted',
      }),
    );
}

function detailFlags(d: EntryDetail): string {
  const f = d.entry.flags;
  const words = [
    f.includes('nc') ? 'needs-copy: the first write fault copies the amap' : '',
    f.includes('cow') ? 'copy-on-write' : 'shared writes',
    d.amap === null ? 'no amap yet' : '',
    d.shared.length > 0 ? `anons shared with another process: ${d.shared.join(', ')}` : '',
  ];
  return `${f.join(',') || '-'} inh=${d.entry.inheritance} adv=${d.entry.advice} wired=${d.entry.wired} ${d.entry.backing.join(' ') || 'zero-fill'}; ${words.filter((w) => w !== '').join('; ')}`;
}

function detailTable(d: EntryDetail): HTMLElement {
  const t = el('table', '', { class: 'mono', 'aria-label': 'entry -> amap slot -> anon -> frame' });
  const head = el('tr');
  for (const h of ['va', 'slot', 'anon', 'an_ref', 'frame', 'swap slot', 'pte', 'bytes'])
    head.append(el('th', h, { scope: 'col' }));
  t.append(head);
  for (const p of d.pages) {
    const tr = el(
      'tr',
      '',
      p.anon !== null && d.shared.includes(p.anon) ? { class: 'shared' } : {},
    );
    const pte = p.pte === null ? '-' : `${p.pte.prot} ${p.pte.frame}`;
    for (const c of [hex(p.va), p.slot, p.anon, p.an_ref, p.page, p.swslot, pte, p.bytes])
      tr.append(el('td', String(c ?? '-')));
    t.append(tr);
  }
  return t;
}

/** pickedFrames: the frames of the picked entry's pages. */
function pickedFrames(): Set<number> {
  const p = state.picked;
  if (p === null) return new Set();
  const s = state.session.stepper;
  const d = entryDetail(s.sys, s.processes(), p.pid, p.start);
  return new Set((d?.pages ?? []).map((pg) => pg.page ?? pg.pte?.frame ?? -1));
}

function renderMemory(): void {
  const uvm = state.session.stepper.sys.uvm;
  const v = framesView(uvm);
  const box = $('memory');
  box.replaceChildren(legend(v), frameGrid(v, pickedFrames()), el('h3', 'Swap slots'));
  for (const d of swapView(uvm)) {
    const used = d.slots.filter((s) => s !== null).length;
    box.append(
      el('p', `device ${d.id} (priority ${d.priority}): ${used} of ${d.slots.length} slots in use`),
    );
    const grid = el('div', '', {
      class: 'grid',
      role: 'list',
      'aria-label': `swap device ${d.id}`,
    });
    d.slots.forEach((h, i) => {
      const label = `swap slot ${d.base + i}: ${h === null ? 'free' : `used by ${h}`}`;
      grid.append(
        el('span', '', {
          role: 'listitem',
          'aria-label': label,
          title: label,
          class: h === null ? '' : 'used',
        }),
      );
    });
    box.append(grid);
  }
}

function legend(v: FramesView): HTMLElement {
  const counts = new Map<string, number>();
  for (const f of v.frames) counts.set(f.state, (counts.get(f.state) ?? 0) + 1);
  const box = el('div', '', { class: 'legend' });
  for (const [stateName, n] of counts) {
    const item = el('span');
    item.append(
      el('i', '', { class: stateName, style: `background: var(--${stateName})` }),
      `${stateName} ${n}`,
    );
    box.append(item);
  }
  const hand =
    v.hand === null
      ? 'no pagedaemon hand (nothing inactive)'
      : `pagedaemon hand: frame ${v.hand} (outlined: the next page its scan looks at)`;
  box.append(el('span', hand));
  return box;
}

function frameGrid(v: FramesView, picked: Set<number>): HTMLElement {
  const grid = el('div', '', { class: 'grid', role: 'list', 'aria-label': 'frames' });
  for (const f of v.frames) {
    const cls = [f.state, f.frame === v.hand ? 'hand' : '', picked.has(f.frame) ? 'picked' : ''];
    const title = `frame ${f.frame}: ${f.state}${f.owner ? `, ${f.owner}` : ''}`;
    grid.append(
      el('span', '', {
        role: 'listitem',
        class: cls.join(' ').trim(),
        'aria-label': `frame ${f.frame}: ${f.state}`,
        title,
      }),
    );
  }
  return grid;
}

function renderEvents(shown: Shown | null): void {
  const box = $('events');
  const events = shown?.events ?? [];
  box.replaceChildren(el('p', `${events.length} events in this step`, { class: 'muted' }));
  if (events.length === 0) return;
  const list = el('ol', '', { class: 'mono' });
  for (const e of events.slice(0, MAX_EVENTS)) list.append(el('li', formatEvent(e)));
  box.append(list);
  if (events.length > MAX_EVENTS)
    box.append(el('p', `... and ${events.length - MAX_EVENTS} more`, { class: 'muted' }));
}

/** openRecording: the chosen files: one NAME.strace and its init snapshots. */
async function openRecording(files: FileList): Promise<void> {
  const all = [...files];
  const log = all.find((f) => f.name.endsWith('.strace'));
  if (log === undefined) {
    state.session.error = { line: 0, what: 'a recording needs its NAME.strace file' };
    renderAlert();
    return;
  }
  const snapshots = new Map<string, string>();
  for (const f of all.filter(
    (f) => f.name.endsWith('.maps') && !f.webkitRelativePath.includes('exit/'),
  ))
    snapshots.set(f.name, await f.text());
  state.recording = { name: log.name.slice(0, -'.strace'.length), log: '', snapshots };
  const text = await log.text();
  const select = $('scenario') as HTMLSelectElement;
  select.append(el('option', `recording: ${log.name}`, { value: '' }));
  select.value = '';
  ($('source') as HTMLTextAreaElement).value = text;
  load(text);
}

/** chooseScenario: a bundled scenario into the editor, loaded. */
function chooseScenario(name: string): void {
  if (!(name in __UVM_SCENARIOS__)) return;
  state.recording = null;
  ($('source') as HTMLTextAreaElement).value = __UVM_SCENARIOS__[name];
  load(__UVM_SCENARIOS__[name]);
}

function onKey(ev: KeyboardEvent): void {
  const t = ev.target as HTMLElement | null;
  if (t !== null && ['TEXTAREA', 'INPUT', 'SELECT'].includes(t.tagName)) return;
  if (ev.key === 'ArrowRight') act((s) => s.step());
  else if (ev.key === 'ArrowLeft') act((s) => s.back());
  else return;
  ev.preventDefault();
}

function wire(): void {
  const select = $('scenario') as HTMLSelectElement;
  for (const name of Object.keys(__UVM_SCENARIOS__))
    select.append(el('option', name, { value: name }));
  select.onchange = () => chooseScenario(select.value);
  $('load').onclick = () => load(($('source') as HTMLTextAreaElement).value);
  $('step').onclick = () => act((s) => s.step());
  $('back').onclick = () => act((s) => s.back());
  $('run').onclick = () => act((s) => s.runToEnd());
  $('reset').onclick = () => act((s) => s.reset());
  const rec = $('recording') as HTMLInputElement;
  rec.onchange = () => {
    if (rec.files !== null) void openRecording(rec.files);
  };
  document.addEventListener('keydown', onKey);
  const first = 'demo' in __UVM_SCENARIOS__ ? 'demo' : Object.keys(__UVM_SCENARIOS__)[0];
  select.value = first;
  chooseScenario(first);
}

wire();
