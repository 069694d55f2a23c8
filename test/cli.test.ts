// berth's command line from its command table: help for the whole and for each command, the
// suggestion for a mistyped command, the completion scripts (run in bash, zsh and fish), docker's
// parsing habits, and the README's command list held to the table. Nothing here makes a container:
// help and completion touch no storage, which the tests check with a root that does not exist.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { COMMANDS } from '../src/cli/commands.js';
import { parseCommandLine, withBuiltins } from '../src/cli/dispatch.js';
import { markdownCommandList, README_BEGIN, README_END } from '../src/cli/help.js';
import { BERTH, launcherEnv, PROJECT } from './helpers/berth-cli.js';

const TABLE = withBuiltins(COMMANDS);
const work = mkdtempSync(join(tmpdir(), 'berth-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));
/** A root that is never made: a command that touched storage would create it. */
const ROOT = join(work, 'no-root');
const env = launcherEnv({ ...process.env, BERTH_ROOT: ROOT });

function berth(...args: string[]) {
  const r = spawnSync(process.execPath, [BERTH, ...args], { env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function command(name: string) {
  const found = TABLE.find((c) => c.name === name);
  assert.ok(found, name);
  return found;
}

describe('help from the command table', () => {
  test('berth --help lists every command that is not hidden, by section, and exits 0', () => {
    for (const args of [['--help'], ['-h'], ['help'], []]) {
      const r = berth(...args);
      assert.equal(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: {2}berth /);
      for (const c of TABLE.filter((c) => !c.hidden)) assert.match(r.stdout, new RegExp(`^  ${c.name.replace(/ /g, ' ')} +${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), c.name);
      assert.doesNotMatch(r.stdout, /container cleanup/);
    }
  });

  test("berth CMD --help and berth help CMD print that command's usage and every flag, and exit 0", () => {
    for (const c of TABLE.filter((c) => !c.hidden)) {
      const words = c.name.split(' ');
      for (const args of [[...words, '--help'], ['help', ...words]]) {
        const r = berth(...args);
        assert.equal(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
        assert.ok(r.stdout.startsWith(`Usage:  berth ${c.name}`), r.stdout);
        assert.ok(r.stdout.includes(c.summary));
        for (const f of c.flags.filter((f) => !f.hidden)) assert.match(r.stdout, new RegExp(`${f.short ? `-${f.short}, ` : ''}--${f.name}\\b.*${f.help.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), `${c.name} --${f.name}`);
      }
    }
    // An alias is the same command.
    assert.equal(berth('container', 'ls', '--help').stdout, berth('ps', '--help').stdout);
    assert.equal(existsSync(ROOT), false, 'help touched the storage root');
  });

  test("--help after run's image is the container's, not berth's", () => {
    const p = parseCommandLine(command('run'), ['-it', 'busybox', 'sh', '--help']);
    assert.equal(p.flags.help, undefined);
    assert.deepEqual(p.positionals, ['busybox', 'sh', '--help']);
  });

  test("a group alone, or with --help, lists its verbs", () => {
    for (const args of [['image'], ['image', '--help'], ['help', 'image']]) {
      const r = berth(...args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Usage: {2}berth image COMMAND/);
      assert.match(r.stdout, /^ {2}ls +List images$/m);
      assert.match(r.stdout, /^ {2}prune +/m);
    }
  });

  test('a mistyped command gets a suggestion, exit 125, and nothing is made', () => {
    const cases: [string[], RegExp][] = [
      [['rnu'], /^berth: unknown command "rnu": did you mean "run"\? \(see berth --help\)$/],
      [['stpo', 'x'], /did you mean "stop"\?/],
      [['image', 'lss'], /^berth: unknown command "image lss": did you mean "image ls"\? \(see berth image --help\)$/],
      [['netwrok', 'ls'], /did you mean "network"\?/],
      [['help', 'psx'], /unknown command "psx": did you mean "ps"\?/],
      [['zzzzzz'], /^berth: unknown command "zzzzzz" \(see berth --help\)$/],
    ];
    for (const [args, message] of cases) {
      const r = berth(...args);
      assert.equal(r.status, 125, args.join(' '));
      assert.match(r.stderr.trim(), message);
      assert.equal(r.stdout, '');
    }
    assert.equal(existsSync(ROOT), false);
  });

  test('an unknown flag is refused by name', () => {
    const r = berth('ps', '--bogus');
    assert.equal(r.status, 125);
    assert.equal(r.stderr, 'berth: unknown flag --bogus\n');
    const s = berth('run', '-iZ', 'busybox');
    assert.equal(s.status, 125);
    assert.equal(s.stderr, "berth: unknown shorthand flag 'Z' in -iZ\n");
  });
});

describe("docker's parsing habits", () => {
  test('-it bundled, -dp with a value next, -p8080:80 attached, --flag=value, and the command after the image', () => {
    const p = parseCommandLine(command('run'), ['-it', '--name=web', '-dp', '8080:80', '-p8081:81', '--env', 'A=1', '-eB=2', 'busybox', 'sh', '-c', 'ls -la', '--rm']);
    assert.equal(p.flags.interactive, true);
    assert.equal(p.flags.tty, true);
    assert.equal(p.flags.detach, true);
    assert.equal(p.flags.name, 'web');
    assert.deepEqual(p.flags.publish, ['8080:80', '8081:81']);
    assert.deepEqual(p.flags.env, ['A=1', 'B=2']);
    assert.equal(p.flags.rm, undefined, '--rm after the image is the command\'s');
    assert.deepEqual(p.positionals, ['busybox', 'sh', '-c', 'ls -la', '--rm']);
  });

  test("exec: the container's command keeps its own flags; -- ends berth's", () => {
    const p = parseCommandLine(command('exec'), ['-i', '-u', '0:0', 'web', 'ps', '-ef']);
    assert.equal(p.flags.user, '0:0');
    assert.deepEqual(p.positionals, ['web', 'ps', '-ef']);
    assert.deepEqual(parseCommandLine(command('rm'), ['-f', '--', '-odd-name']).positionals, ['-odd-name']);
  });

  test('a boolean flag takes =false; a value flag at the end wants its value', () => {
    assert.equal(parseCommandLine(command('pull'), ['--tls-verify=false', 'x']).flags['tls-verify'], false);
    assert.throws(() => parseCommandLine(command('run'), ['--name']), /^UsageError: flag --name needs a value$/);
    assert.throws(() => parseCommandLine(command('run'), ['-de']), /^UsageError: flag -e needs a value$/);
  });
});

describe('completion scripts', () => {
  const scripts = Object.fromEntries(
    (['bash', 'zsh', 'fish'] as const).map((shell) => {
      const r = berth('completion', shell);
      assert.equal(r.status, 0, r.stderr);
      const file = join(work, `berth.${shell}`);
      writeFileSync(file, r.stdout);
      return [shell, file];
    }),
  );

  test('an unknown shell is refused', () => {
    const r = berth('completion', 'tcsh');
    assert.equal(r.status, 125);
    assert.match(r.stderr, /completion: "tcsh": berth writes scripts for bash, zsh, fish/);
  });

  test('bash completes commands, verbs and flags', () => {
    const complete = (...words: string[]) => {
      const script = `source ${scripts.bash}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _berth; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim().split('\n').filter(Boolean).sort();
    };
    assert.deepEqual(complete('berth', 'ru'), ['run']);
    assert.deepEqual(complete('berth', 'image', 'l'), ['load', 'ls']);
    assert.deepEqual(complete('berth', 'run', '--na'), ['--name']);
    assert.deepEqual(complete('berth', 'volume', 'prune', '--a'), ['--all']);
    assert.deepEqual(complete('berth', 'completion', 'z'), ['zsh']);
  });

  test('zsh completes commands, verbs and flags', () => {
    const complete = (...words: string[]) => {
      // compsys's builtins stood in for by functions that print what they are given.
      const script = `compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }; _files() { :; }
source ${scripts.zsh}
words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _berth`;
      const r = spawnSync('zsh', ['-f', '-c', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const typed = words[words.length - 1];
      return r.stdout.trim().split('\n').filter((w) => w.startsWith(typed)).sort();
    };
    assert.deepEqual(complete('berth', 'ru'), ['run']);
    assert.deepEqual(complete('berth', 'image', 'l'), ['load', 'ls']);
    assert.deepEqual(complete('berth', 'run', '--na'), ['--name']);
  });

  test('fish completes commands, verbs and flags', () => {
    const complete = (line: string) => {
      const r = spawnSync('fish', ['--no-config', '-c', `source ${scripts.fish}; complete -C '${line}'`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim().split('\n').map((l) => l.split('\t')[0]).filter(Boolean).sort();
    };
    assert.deepEqual(complete('berth ru'), ['run']);
    assert.deepEqual(complete('berth image l'), ['load', 'ls']);
    assert.deepEqual(complete('berth run --na'), ['--name']);
  });
});

test("README.md's command list is the command table's", () => {
  const readme = readFileSync(join(PROJECT, 'README.md'), 'utf8');
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  assert.ok(begin >= 0 && end > begin, 'README.md has the command list block');
  assert.equal(readme.slice(begin + README_BEGIN.length + 1, end), markdownCommandList(TABLE), 'README.md differs from the table: npm run readme');
});
