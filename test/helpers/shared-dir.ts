// ../shared, the folder beside the project that the tests read (the OCI schemas): beside this
// checkout, or, in a git worktree placed elsewhere (/work/wt/NAME), beside the main checkout the
// worktree belongs to.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This file runs from dist/test/helpers/. */
const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));

function sharedDir(): string {
  const beside = resolve(PROJECT, '../shared');
  if (existsSync(beside)) return beside;
  // A worktree's .git is a file: `gitdir: <main>/.git/worktrees/<name>`.
  const dotGit = join(PROJECT, '.git');
  const gitdir = existsSync(dotGit) ? /^gitdir: (.*)$/m.exec(readFileSync(dotGit, 'utf8'))?.[1] : undefined;
  if (gitdir && /\/\.git\/worktrees\/[^/]+$/.test(gitdir)) return resolve(dirname(dirname(dirname(gitdir))), '../shared');
  return beside;
}

export const SHARED = sharedDir();
