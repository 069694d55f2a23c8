// Files written whole or not at all, and what a writer killed mid-write leaves: its temp file, which
// removeOrphanedTemps takes away once that writer is gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeOrphanedTemps, writeFileAtomic } from '../src/fs/atomic.js';

test('writeFileAtomic replaces a file and leaves no temp file', (t) => {
  const dir = mkdtempSync('/tmp/berth-test-atomic-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileAtomic(join(dir, 'a.json'), 'one');
  writeFileAtomic(join(dir, 'a.json'), 'two');
  assert.equal(readFileSync(join(dir, 'a.json'), 'utf8'), 'two');
  assert.deepEqual(readdirSync(dir), ['a.json']);
});

test('a writer killed before its rename: its temp file is removed once it is gone, a live writer\'s stays', (t) => {
  const dir = mkdtempSync('/tmp/berth-test-atomic-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A real writer killed between open and rename: a child process that writes its temp file, then
  // SIGKILLs itself where the rename would come.
  const child = spawnSync(process.execPath, ['-e', `
    require('node:fs').writeFileSync(require('node:path').join(${JSON.stringify(dir)}, '.a.json.' + process.pid + '-0badc0de'), 'half');
    process.kill(process.pid, 'SIGKILL');`]);
  assert.equal(child.signal, 'SIGKILL');
  const dead = `.a.json.${child.pid}-0badc0de`;
  const live = `.b.json.${process.pid}-12345678`;
  writeFileSync(join(dir, live), 'being written');
  writeFileSync(join(dir, 'a.json'), 'whole');
  assert.deepEqual(removeOrphanedTemps(dir), [dead]);
  assert.deepEqual(readdirSync(dir).sort(), [live, 'a.json'].sort());
  assert.deepEqual(removeOrphanedTemps(join(dir, 'missing')), []);
});
