// Detached containers and docker's daily verbs, through berth's CLI: a container started by
// `run -d` outlives the berth process under its monitor (conmon); logs, exec, stop (SIGTERM, then
// SIGKILL at the timeout), --init, restart policies, --rm, a real terminal (-it through a pty:
// prompt, command, window resize, detach and re-attach), and the verbs around them.
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { cgroupsMentioning, unique, waitFor } from './helpers/run.js';
import { saveHostNetwork } from './helpers/host-network.js';
import { BERTH, berthRoot, busyboxRootfsTar, ok, PROJECT, type BerthRoot } from './helpers/berth-cli.js';

const skip = busyboxAvailable() ? false : BUSYBOX_MISSING_REASON;
const IMAGE = 'busybox:life';
// Containers are on the default bridge: ip_forward and /run/netns as they were, after.
after(saveHostNetwork());

/** A root with the busybox image imported. */
function withImage(t: TestContext): BerthRoot {
  const env = berthRoot(t, 'life');
  ok(env.berth('import', busyboxRootfsTar(t), IMAGE));
  return env;
}

function inspect(env: BerthRoot, ref: string, template: string): string {
  return ok(env.berth('inspect', '-f', template, ref)).trim();
}

function conmonPidOf(env: BerthRoot, id: string): number {
  return Number(readFileSync(join(env.root, 'containers', id, 'monitor', 'conmon.pid'), 'utf8'));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Everything a container leaves while it exists; after `rm` none of it may remain. */
function traces(env: BerthRoot, id: string): string[] {
  const found: string[] = [];
  if (existsSync(join(env.root, 'containers', id))) found.push('container dir');
  if (existsSync(join('/run/berth/runtime', id))) found.push('runtime state');
  if (existsSync(join('/run/berth/socket', id))) found.push('attach link');
  if (existsSync(join(env.root, 'exits')) && readdirSync(join(env.root, 'exits')).some((n) => n.startsWith(id))) found.push('exit file');
  found.push(...cgroupsMentioning([id]).map((dir) => `cgroup ${dir}`));
  if (spawnSync('pgrep', ['-f', `--cid ${id}`]).status === 0) found.push('conmon process');
  return found;
}

interface PtyResult {
  screen: string;
  exit: number;
  failed: unknown;
}

type PtyStep = { send: string } | { expect: string; timeout?: number } | { resize: [number, number] } | { sleep: number };

/** berth run through a real pseudo-terminal (test/helpers/pty-session.py plays the keyboard and screen). */
function inPty(env: BerthRoot, args: string[], steps: PtyStep[]): PtyResult {
  const r = spawnSync('python3', [join(PROJECT, 'test/helpers/pty-session.py'), process.execPath, BERTH, ...args], {
    env: env.env,
    input: JSON.stringify(steps),
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `pty driver failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as PtyResult;
}

test('run -d: the container outlives berth under conmon; logs -f streams; exec runs inside with its exit code; stop → 143; rm leaves nothing', { skip }, async (t) => {
  const env = withImage(t);
  const name = unique('daemon');
  const script = 'trap "echo got TERM; exit 143" TERM; echo started; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done';
  const id = ok(env.berth('run', '-d', '--name', name, IMAGE, 'sh', '-c', script)).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  // The berth process has exited; the container runs on, watched by its conmon.
  assert.equal(inspect(env, name, '{{.State.Status}}'), 'running');
  const pid = Number(inspect(env, name, '{{.State.Pid}}'));
  assert.ok(alive(pid), 'the container process runs');
  const conmon = conmonPidOf(env, id);
  assert.match(readFileSync(`/proc/${conmon}/cmdline`, 'utf8'), /conmon/);
  // (Its memory is a measurement: bench/detached.sh.)

  // logs -f streams what comes, until the container stops.
  const follower = spawn(process.execPath, [BERTH, 'logs', '-f', name], { env: env.env });
  let followed = '';
  follower.stdout.on('data', (d: Buffer) => (followed += d.toString()));
  const followerDone = new Promise<number | null>((resolve) => follower.on('exit', resolve));
  await waitFor('logs -f to stream tick 15', () => /tick 15/.test(followed), 10_000);

  const exec = env.berth('exec', name, 'sh', '-c', 'echo in $(hostname); ps -o pid,comm | grep -c sleep >/dev/null; exit 7');
  assert.equal(exec.status, 7, exec.stderr);
  assert.equal(exec.stdout, `in ${id.slice(0, 12)}\n`);
  assert.equal(ok(env.berth('exec', '-e', 'X=from-exec', '-w', '/etc', name, 'sh', '-c', 'echo $X $(pwd)')), 'from-exec /etc\n');

  // The trap's 143 and its line: SIGTERM ended it, not the SIGKILL of the timeout (137).
  assert.equal(ok(env.berth('stop', name)).trim(), name);
  assert.equal(await followerDone, 0, 'logs -f ends when the container stops');
  assert.match(followed, /got TERM\n$/);
  assert.equal(inspect(env, name, '{{.State.Status}} {{.State.ExitCode}}'), 'exited 143');
  assert.match(ok(env.berth('ps', '-a', '--filter', `name=${name}`)), /Exited \(143\)/);
  assert.ok(!alive(pid));
  await waitFor('conmon to end with its container', () => !alive(conmon), 5_000);

  ok(env.berth('rm', name));
  assert.deepEqual(traces(env, id), []);
});

test('stop: a container that stays up on SIGTERM gets it, then SIGKILL at the timeout (137); --init makes a shell PID 1 answer SIGTERM (143) and reaps zombies', { skip }, async (t) => {
  const env = withImage(t);
  const stubborn = unique('stubborn');
  // Its trap notes the SIGTERM and carries on: only the SIGKILL at the timeout ends it.
  ok(env.berth('run', '-d', '--name', stubborn, IMAGE, 'sh', '-c', 'trap "echo got TERM" TERM; echo up; while :; do sleep 0.1; done'));
  await waitFor('the trap to be set', () => env.berth('logs', stubborn).stdout === 'up\n', 10_000, 50);
  ok(env.berth('stop', '-t', '1', stubborn));
  assert.equal(ok(env.berth('logs', stubborn)), 'up\ngot TERM\n');
  assert.equal(inspect(env, stubborn, '{{.State.ExitCode}}'), '137');

  const withInit = unique('init');
  ok(env.berth('run', '-d', '--init', '--name', withInit, IMAGE, 'sh', '-c', 'sh -c "sleep 0.2 & exit 0"; sleep 1000'));
  assert.equal(inspect(env, withInit, '{{.HostConfig.Init}}'), 'true');
  // tini is PID 1; the orphaned sleep, re-parented to it, is reaped once it exits: no zombie.
  const ps = () => ok(env.berth('exec', withInit, 'ps', '-o', 'pid,stat,args'));
  await waitFor('the orphaned sleep to exit', () => !/^\s*\d+ \S+\s+sleep 0\.2$/m.test(ps()), 10_000, 100);
  const listed = ps();
  assert.match(listed, /^\s*1 \S+\s+\/sbin\/docker-init -- sh/m);
  assert.doesNotMatch(listed, /^\s*\d+ Z/m, listed);
  // 143, not the 137 of the SIGKILL at the 10 s timeout: tini forwarded the SIGTERM to the shell.
  ok(env.berth('stop', '-t', '10', withInit));
  assert.equal(inspect(env, withInit, '{{.State.ExitCode}}'), '143');
});

test('-it through a real pty: prompt, a command, window resize seen by stty size, ctrl-p ctrl-q detaches, attach again, exit code', { skip }, async (t) => {
  const env = withImage(t);
  const name = unique('tty');
  const first = inPty(env, ['run', '-it', '--name', name, IMAGE, 'sh'], [
    { expect: '/ # ' },
    { send: 'echo answer-$((6*7)); stty size\r' },
    { expect: 'answer-42[\\s\\S]*24 80' },
    { resize: [40, 120] },
    { sleep: 0.3 },
    { send: 'stty size\r' },
    { expect: '40 120' },
    { send: '\u0010\u0011' },
  ]);
  assert.equal(first.failed, null, first.screen);
  assert.equal(first.exit, 0, 'detaching leaves berth with 0');
  // Raw as docker makes it: the container's pty turned "\n" into "\r\n" already; ours adds no second "\r".
  assert.doesNotMatch(first.screen, /\r\r\n/, JSON.stringify(first.screen));
  assert.equal(inspect(env, name, '{{.State.Status}}'), 'running', 'the container runs on after the detach');

  const again = inPty(env, ['attach', name], [{ send: 'echo back-$((1+1)); exit 5\r' }, { expect: 'back-2' }]);
  assert.equal(again.failed, null, again.screen);
  assert.equal(again.exit, 5, 'attach returns the container\'s exit code');
  assert.equal(inspect(env, name, '{{.State.Status}} {{.State.ExitCode}}'), 'exited 5');
  // What the terminal showed was logged too.
  assert.match(ok(env.berth('logs', name)), /answer-42/);
});

test('exec -it: a terminal inside a running container', { skip }, async (t) => {
  const env = withImage(t);
  const name = unique('exectty');
  ok(env.berth('run', '-d', '--name', name, IMAGE, 'sleep', '1000'));
  const session = inPty(env, ['exec', '-it', name, 'sh'], [{ expect: '# ' }, { send: 'tty; exit 3\r' }, { expect: '/dev/pts/' }]);
  assert.equal(session.failed, null, session.screen);
  assert.equal(session.exit, 3);
  assert.doesNotMatch(session.screen, /\r\r\n/, JSON.stringify(session.screen));
});

test('--restart on-failure:3 restarts exactly three times; always comes back until a user stops it', { skip }, async (t) => {
  const env = withImage(t);
  const name = unique('flaky');
  ok(env.berth('run', '-d', '--restart', 'on-failure:3', '--name', name, IMAGE, 'sh', '-c', 'echo run; exit 3'));
  await waitFor('three restarts then exited', () => inspect(env, name, '{{.State.Status}} {{.RestartCount}}') === 'exited 3', 20_000);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(inspect(env, name, '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}'), 'exited 3 3');
  assert.equal(ok(env.berth('logs', name)), 'run\nrun\nrun\nrun\n', 'one first run and three restarts');
  assert.equal(inspect(env, name, '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}'), 'on-failure:3');

  const always = unique('always');
  ok(env.berth('run', '-d', '--restart', 'always', '--name', always, IMAGE, 'sh', '-c', 'sleep 0.2; exit 0'));
  await waitFor('always to restart a container that exits 0', () => Number(inspect(env, always, '{{.RestartCount}}')) >= 2, 20_000);
  ok(env.berth('stop', always));
  const count = inspect(env, always, '{{.RestartCount}}');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(inspect(env, always, '{{.State.Status}} {{.RestartCount}}'), `exited ${count}`, 'a stopped container is not restarted');
});

test('--rm: a detached container removes itself at its exit, an attached one returns its exit code; nothing is left', { skip }, async (t) => {
  const env = withImage(t);
  const id = ok(env.berth('run', '-d', '--rm', IMAGE, 'sh', '-c', 'sleep 0.3; exit 4')).trim();
  await waitFor(`no trace of the --rm container (${traces(env, id)})`, () => traces(env, id).length === 0, 10_000);
  assert.equal(env.berth('inspect', id).status, 125);

  const attached = inPty(env, ['run', '--rm', '-it', IMAGE, 'sh', '-c', 'echo bye; exit 6'], [{ expect: 'bye' }]);
  assert.equal(attached.exit, 6);
  assert.equal(ok(env.berth('ps', '-aq')), '');
  assert.deepEqual(readdirSync(join(env.root, 'exits')), [], 'no exit file is left once its waiter has read it');
});

test('logs: stdout and stderr apart, the last line without a newline kept, --timestamps, --tail, --since; a foreground run logged alike', { skip }, async (t) => {
  const env = withImage(t);
  const name = unique('logs');
  ok(env.berth('run', '-d', '--name', name, IMAGE, 'sh', '-c', 'echo out-1; echo err-1 >&2; sleep 0.2; echo out-2; printf no-newline'));
  assert.equal(await waitForExit(env, name), '0');
  const logs = env.berth('logs', name);
  assert.equal(logs.stdout, 'out-1\nout-2\nno-newline');
  assert.equal(logs.stderr, 'err-1\n');
  assert.equal(ok(env.berth('logs', '--tail', '1', name)), 'no-newline');
  const stamped = ok(env.berth('logs', '-t', name)).split('\n');
  assert.match(stamped[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out-1$/);
  assert.equal(ok(env.berth('logs', '--since', '2999-01-01T00:00:00Z', name)), '');
  assert.equal(ok(env.berth('logs', '--since', '10m', name)), 'out-1\nout-2\nno-newline');

  // A container run in the foreground (no monitor) is logged alike, its output still shown as it comes.
  const foreground = unique('fg');
  const run = env.berth('run', '--name', foreground, IMAGE, 'sh', '-c', 'echo fg-out; echo fg-err >&2; echo via-dev-stdout > /dev/stdout');
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, 'fg-out\nvia-dev-stdout\n');
  assert.equal(run.stderr, 'fg-err\n');
  const fgLogs = env.berth('logs', foreground);
  assert.equal(fgLogs.stdout, 'fg-out\nvia-dev-stdout\n');
  assert.equal(fgLogs.stderr, 'fg-err\n');
});

async function waitForExit(env: BerthRoot, name: string): Promise<string> {
  return ok(env.berth('wait', name)).trim();
}

test('the verbs around: create/start, ps filters and formats, inspect, pause/unpause, top, stats, kill -s, restart, rename, wait, container prune', { skip }, async (t) => {
  const env = withImage(t);
  const name = unique('verbs');
  const id = ok(env.berth('create', '--name', name, '-l', 'team=berth', IMAGE, 'sh', '-c', 'trap "echo hup" HUP; while true; do sleep 0.1; done')).trim();
  assert.equal(inspect(env, id.slice(0, 10), '{{.State.Status}} {{.Name}} {{index .Config.Labels "team"}}'), `created /${name} berth`);
  assert.match(ok(env.berth('ps', '-a', '--filter', 'status=created', '--format', '{{.ID}} {{.Names}}')), new RegExp(`^${id.slice(0, 12)} ${name}$`, 'm'));
  assert.equal(ok(env.berth('ps', '-q')), '', 'ps without -a shows only running containers');

  ok(env.berth('start', name));
  assert.equal(ok(env.berth('ps', '-q', '--filter', 'label=team=berth')).trim(), id.slice(0, 12));
  assert.equal(ok(env.berth('ps', '-q', '--filter', 'label=team=other')), '');
  // Go templates as docker users write them: range with variables, if/else, with, pipes, len, join, parentheses.
  assert.equal(
    inspect(env, name, '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}} {{len .Config.Cmd}} {{if .State.Running}}up{{else}}down{{end}} {{with .State}}{{.Status | upper}}{{end}} {{(index .Config.Cmd 0)}} {{- range .Config.Cmd}}{{if eq . "-c"}} [{{.}}]{{end}}{{end}}'),
    'team=berth; 3 up RUNNING sh [-c]',
  );
  assert.equal(ok(env.berth('ps', '--format', 'table {{.Names}}\t{{.State}}')), `NAMES${' '.repeat(Math.max(name.length, 5) - 2)}STATE\n${name}${' '.repeat(Math.max(5 - name.length, 0) + 3)}running\n`);
  assert.match(ok(env.berth('images', '--format', '{{.Repository}}:{{.Tag}}')), new RegExp(`^${IMAGE}$`, 'm'));
  const badTemplate = env.berth('inspect', '-f', '{{nosuch .Name}}', name);
  assert.deepEqual([badTemplate.status, badTemplate.stderr], [125, 'berth: --format: function "nosuch" not defined\n']);
  const row = JSON.parse(ok(env.berth('ps', '--format', 'json')).trim().split('\n')[0]) as Record<string, string>;
  assert.equal(row.Names, name);
  assert.equal(row.State, 'running');

  ok(env.berth('pause', name));
  assert.equal(inspect(env, name, '{{.State.Status}} {{.State.Paused}}'), 'paused true');
  assert.match(ok(env.berth('ps')), /Up .* \(Paused\)/);
  ok(env.berth('unpause', name));
  assert.equal(inspect(env, name, '{{.State.Status}}'), 'running');

  const top = ok(env.berth('top', name));
  assert.match(top.split('\n')[0], /PID/);
  assert.match(top, /trap|sh -c/);
  assert.doesNotMatch(top, /node /, 'only the container\'s processes');

  const stats = ok(env.berth('stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.MemUsage}}', name));
  assert.match(stats, new RegExp(`^${name} [1-9]\\d* \\S+ / \\S+$`, 'm'));

  ok(env.berth('kill', '-s', 'HUP', name));
  await waitFor('the trap to see SIGHUP', () => /hup/.test(env.berth('logs', name).stdout), 5_000);
  assert.equal(inspect(env, name, '{{.State.Status}}'), 'running', 'SIGHUP is handled, not fatal');

  const pidBefore = inspect(env, name, '{{.State.Pid}}');
  ok(env.berth('restart', '-t', '1', name));
  assert.equal(inspect(env, name, '{{.State.Status}}'), 'running');
  assert.notEqual(inspect(env, name, '{{.State.Pid}}'), pidBefore);

  const renamed = unique('renamed');
  ok(env.berth('rename', name, renamed));
  assert.equal(inspect(env, renamed, '{{.Name}}'), `/${renamed}`);
  assert.equal(env.berth('inspect', name).status, 125, 'the old name is free');

  const waiter = spawn(process.execPath, [BERTH, 'wait', renamed], { env: env.env });
  let waited = '';
  waiter.stdout.on('data', (d: Buffer) => (waited += d.toString()));
  const waiterDone = new Promise((resolve) => waiter.on('exit', resolve));
  ok(env.berth('kill', renamed));
  await waiterDone;
  assert.equal(waited, '137\n');

  // start -a: attached from the start (nothing missed), the container's exit code returned.
  const attached = unique('starta');
  ok(env.berth('create', '--name', attached, IMAGE, 'sh', '-c', 'echo first-line; echo to-err >&2; exit 9'));
  const startA = env.berth('start', '-a', attached);
  assert.equal(startA.status, 9, startA.stderr);
  assert.equal(startA.stdout, 'first-line\n');
  assert.equal(startA.stderr, 'to-err\n');

  // exec -d runs in the background of the container; exec -u takes a user of the container's passwd.
  const host = unique('execd');
  // --env-file as docker reads it: comments and blank lines skipped, values verbatim, -e after the file's.
  const envFile = join(env.root, 'env.list');
  writeFileSync(envFile, '# a comment\n\nA=one\nB="two words"\nC=file\n');
  // A bare -e NAME takes berth's own value; unset there, it stays unset in the container.
  ok(env.berth('run', '-d', '--name', host, '--env-file', envFile, '-e', 'C=flag', '-e', 'BERTH_ROOT', '-e', 'BERTH_TEST_UNSET', IMAGE, 'sleep', '1000'));
  assert.equal(ok(env.berth('exec', host, 'sh', '-c', 'echo "$A|$B|$C|$BERTH_ROOT|${BERTH_TEST_UNSET-unset}"')), `one|"two words"|flag|${env.root}|unset\n`);
  assert.equal(ok(env.berth('exec', '--env-file', envFile, host, 'sh', '-c', 'echo "$C"')), 'file\n');
  ok(env.berth('exec', '-d', host, 'sh', '-c', 'sleep 0.2; echo done > /tmp/bg'));
  await waitFor('exec -d to finish in the background', () => env.berth('exec', host, 'cat', '/tmp/bg').stdout === 'done\n', 5_000);
  assert.equal(ok(env.berth('exec', '-u', 'nobody', host, 'id', '-u')).trim(), String(65534));
  assert.match(env.berth('exec', '-u', 'no-such-user', host, 'id').stderr, /no-such-user/);
  ok(env.berth('rm', '-f', host));

  assert.match(ok(env.berth('container', 'prune', '-f')), new RegExp(id));
  assert.equal(ok(env.berth('ps', '-aq')), '');
  // system prune: the stopped containers first, then networks, images and the build cache, one total.
  const stopped = ok(env.berth('create', IMAGE, 'true')).trim();
  assert.match(ok(env.berth('system', 'prune', '-f')), new RegExp(`^Deleted Containers:\\n${stopped}\\n\\n(.|\\n)*Total reclaimed space: \\S+\\n$`));
  assert.equal(ok(env.berth('ps', '-aq')), '');
  assert.equal(env.berth('system', 'prune', '--filter', 'nosuch=1').status, 125);
  assert.deepEqual(traces(env, id), []);
});

test('ps -a tells the truth after /run is lost: a container whose runtime state and monitor are gone reads as exited', { skip }, async (t) => {
  const env = withImage(t);
  const name = unique('lost');
  const id = ok(env.berth('run', '-d', '--name', name, IMAGE, 'sleep', '1000')).trim();
  const pid = Number(inspect(env, name, '{{.State.Pid}}'));
  const conmon = conmonPidOf(env, id);
  // A reboot-like loss: the processes die with no exit recorded, and /run's state goes.
  process.kill(conmon, 'SIGKILL');
  process.kill(pid, 'SIGKILL');
  await waitFor('both to die', () => !alive(pid) && !alive(conmon), 5_000);
  spawnSync(process.execPath, [join(PROJECT, 'dist/bin/berth-runtime.mjs'), '--root', '/run/berth/runtime', 'delete', '--force', id]);
  assert.match(ok(env.berth('ps', '-a', '--filter', `name=${name}`)), /Exited \(255\)/);
  assert.match(inspect(env, name, '{{.State.Error}}'), /monitor/);
  ok(env.berth('rm', name));
  assert.deepEqual(traces(env, id), []);
});

test('run -d -p: a detached web server answers on the host; stop takes its network down, start brings it back, rm leaves no link', { skip }, async (t) => {
  const env = withImage(t);
  const name = unique('web');
  const linksBefore = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').length;
  const id = ok(env.berth('run', '-d', '--name', name, '-p', '127.0.0.1::80', IMAGE, 'sh', '-c', 'mkdir -p /www && echo served-detached > /www/index.html && exec httpd -f -p 80 -h /www')).trim();
  const port = () => Number(/:(\d+)$/.exec(ok(env.berth('port', name, '80')).trim())?.[1]);
  const get = async () => (await fetch(`http://127.0.0.1:${port()}/`)).text();
  let body = '';
  for (let i = 0; i < 50 && body === ''; i++) {
    body = await get().catch(() => '');
    if (!body) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(body, 'served-detached\n');
  assert.match(ok(env.berth('ps')), new RegExp(`127\\.0\\.0\\.1:${port()}->80/tcp`));

  ok(env.berth('stop', '-t', '1', name));
  await assert.rejects(fetch(`http://127.0.0.1:${port()}/`), 'nothing answers once stopped');
  ok(env.berth('start', name));
  body = '';
  for (let i = 0; i < 50 && body === ''; i++) {
    body = await get().catch(() => '');
    if (!body) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(body, 'served-detached\n', 'it serves again after start');

  ok(env.berth('rm', '-f', name));
  assert.deepEqual(traces(env, id), []);
  assert.equal(spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').length, linksBefore, 'no veth or bridge left');
});

test('stop of a container running in the foreground of its berth run: that berth records and returns 143; start runs it again, detached', { skip }, async (t) => {
  const env = withImage(t);
  const name = unique('fgstop');
  const foreground = spawn(process.execPath, [BERTH, 'run', '--name', name, IMAGE, 'sh', '-c', 'trap "exit 143" TERM; echo up; while true; do sleep 0.1; done'], { env: env.env });
  let out = '';
  foreground.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => foreground.on('exit', resolve));
  await waitFor('the foreground container to start', () => out.includes('up'), 30_000);
  ok(env.berth('stop', name));
  assert.equal(await exited, 143, 'the foreground berth returns the exit code, not an error');
  assert.equal(inspect(env, name, '{{.State.Status}} {{.State.ExitCode}} [{{.State.Error}}]'), 'exited 143 []');
  ok(env.berth('start', name));
  assert.equal(inspect(env, name, '{{.State.Status}}'), 'running');
  assert.match(readFileSync(`/proc/${conmonPidOf(env, ok(env.berth('inspect', '-f', '{{.Id}}', name)).trim())}/cmdline`, 'utf8'), /conmon/, 'now under a monitor');
  ok(env.berth('rm', '-f', name));
});
