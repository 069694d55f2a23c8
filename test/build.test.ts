// `berth build` on real containers from the busybox test image: a few builds, each checked in
// several ways (the image's config and history, what its containers see, the cache, the errors),
// and after each: no container, mount or cgroup of the build left, no dangling image.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ImageStore, imageConfig } from '../src/image/index.js';
import { parseDockerfile } from '../src/build/parser.js';
import { expandWord } from '../src/build/expand.js';
import { IgnoreRules } from '../src/build/dockerignore.js';
import { buildTestImage, busyboxAvailable, BUSYBOX_MISSING_REASON, FIXTURE_REF } from './helpers/image-fixture.js';
import { BERTH, berthRoot, hostMountsMentioning, ok, type BerthRoot } from './helpers/berth-cli.js';
import { registryAvailable, startRegistry } from './helpers/registry.js';
import { cgroupsMentioning } from './helpers/run.js';
import { engineDir, ok as engineOk, podmanWithPrivateCache, undoStack } from './helpers/engines.js';
import { saveHostNetwork } from './helpers/host-network.js';

const skip = busyboxAvailable() ? false : BUSYBOX_MISSING_REASON;

// RUN is on the default bridge unless --network: ip_forward and /run/netns as they were, after.
after(saveHostNetwork());

/** A context directory with these files (a string is a file, null a directory, `-> x` a symlink). */
function context(t: { after: (fn: () => void) => void }, files: Record<string, string | null>): string {
  const dir = mkdtempSync('/tmp/berth-test-build-ctx-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, body] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    if (body === null) mkdirSync(path, { recursive: true });
    else if (body.startsWith('-> ')) symlinkSync(body.slice(3), path);
    else writeFileSync(path, body);
  }
  return dir;
}

/** Cgroups named after a container id, on any hierarchy: none may outlive a build. */
function cgroupsOf(ids: string[]): string[] {
  const found: string[] = [];
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', hierarchy, 'berth');
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) if (ids.some((id) => id.startsWith(name) || name.startsWith(id))) found.push(join(dir, name));
  }
  return found;
}

/** What a build leaves: the containers of the root, and unnamed images `images` shows. */
function leftovers(b: BerthRoot): { containers: string; dangling: string } {
  return { containers: ok(b.berth('ps', '-aq')), dangling: ok(b.berth('images')).split('\n').filter((l) => l.startsWith('<none>')).join('\n') };
}

test('the parser, expansion and .dockerignore as docker reads them', () => {
  const df = parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox AS b\nRUN echo a `\n  # a comment inside\n  && echo b\nCMD ["sh", "-c", "echo \\"hi\\""]\n# late comment\ncopy --chown=1:2 --from=b a /b\n');
  assert.equal(df.escape, '`');
  assert.deepEqual(df.directives, { syntax: 'docker/dockerfile:1', escape: '`' });
  assert.deepEqual(df.instructions.map((i) => [i.line, i.keyword]), [[3, 'FROM'], [4, 'RUN'], [7, 'CMD'], [9, 'COPY']]);
  assert.equal(df.instructions[1]!.args, 'echo a   && echo b');
  assert.deepEqual(df.instructions[2]!.json, ['sh', '-c', 'echo "hi"']);
  assert.deepEqual(df.instructions[3]!.flags, { chown: '1:2', from: 'b' });
  assert.throws(() => parseDockerfile('FROM x\n\nRUNN true\n'), /line 3: unknown instruction: RUNN/);
  const vars = new Map([['A', 'x'], ['E', '']]);
  assert.equal(expandWord('${A:-d}-${B:-d}-${E:-d}-${E-d}-${A:+alt}-${B:+alt}', vars, '\\'), 'x-d-d--alt-');
  assert.equal(expandWord('"$A y" \'$A\' \\$A', vars, '\\'), 'x y $A $A');
  const ignore = new IgnoreRules('# comment\n*.log\n/build\n**/tmp\ndocs\n!docs/keep.md\n');
  assert.deepEqual(['a.log', 'sub/a.log', 'build/x', 'a/b/tmp/c', 'docs/x', 'docs/keep.md', 'src/a.ts'].map((p) => ignore.ignores(p)), [true, false, true, true, true, false, false]);
});

test('a build: every instruction of the core, the image it gives, its history, and the cache', { skip }, async (t) => {
  const b = berthRoot(t, 'build');
  await buildTestImage(new ImageStore(b.root));
  const dir = context(t, {
    'app.txt': 'app v1\n',
    'src/one.c': 'one\n',
    'src/two.c': 'two\n',
    'src/deep/three.c': 'three\n',
    'src/out': '-> /etc/shadow', // copied as the link it is, never followed
    'notes.log': 'left out\n',
    'docs/a.md': 'left out\n',
    'docs/keep.md': 'kept\n',
    '.dockerignore': '*.log\ndocs\n!docs/keep.md\n',
  });
  writeFileSync(join(dir, 'Dockerfile'), `
ARG BASE=${FIXTURE_REF}
FROM $BASE
ARG GREETING=hello
ENV APP=/srv/app \\
    MSG="\${GREETING:-none} world" ALT=\${UNSET:+set}
LABEL org.example.a="one two" b=\${GREETING}
WORKDIR $APP/work
COPY app.txt ../
COPY src /srv/app/src/
COPY docs/ /srv/app/docs/
COPY --chown=nobody:nogroup --chmod=640 src/*.c /srv/app/owned/
RUN echo "$MSG from $GREETING in $(pwd)" > /srv/app/run.txt && cat /proc/net/dev > /srv/app/netdev
USER nobody
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --retries=2 CMD cat /srv/app/run.txt
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["cat"]
CMD ["/srv/app/run.txt"]
`);
  const started = Date.now();
  const first = ok(b.berth('build', '--network', 'none', '-t', 'built:1', '--build-arg', 'GREETING=hi', '--label', 'from=cli', dir));
  const coldMs = Date.now() - started;
  assert.match(first, /^Step 1\/20 : ARG BASE=.*\nStep 2\/20 : FROM \$BASE\n/);
  assert.match(first, /\nStep 20\/20 : LABEL from=cli\n ---> [0-9a-f]{12}\n/, '--label: a step of its own, as docker counts it');
  assert.match(first, /Successfully built [0-9a-f]{12}\nSuccessfully tagged built:1\n$/);
  assert.match(first, / ---> Running in [0-9a-f]{12}\n/);

  // What the image is.
  const store = new ImageStore(b.root);
  const image = await imageConfig(store, 'built:1');
  const c = image.config!;
  assert.ok(c.Env!.includes('MSG=hi world') && c.Env!.includes('APP=/srv/app') && c.Env!.includes('ALT='), String(c.Env));
  assert.deepEqual(c.Labels, { 'org.berth.test': 'busybox-layers', 'org.example.a': 'one two', b: 'hi', from: 'cli' });
  assert.equal(c.WorkingDir, '/srv/app/work');
  assert.equal(c.User, 'nobody');
  assert.deepEqual(c.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
  assert.deepEqual(c.Volumes, { '/data': {} });
  assert.equal(c.StopSignal, 'SIGQUIT');
  assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'cat /srv/app/run.txt'], Interval: 5e9, Retries: 2 });
  assert.deepEqual(c.Shell, ['/bin/sh', '-ec']);
  assert.deepEqual(c.Entrypoint, ['cat']);
  assert.deepEqual(c.Cmd, ['/srv/app/run.txt']);
  // History as docker's classic builder writes it: the base's three, then one per step (FROM and the global ARG have none).
  const history = image.history!.slice(3);
  assert.equal(history.length, 18);
  assert.equal(history[0]!.created_by, '/bin/sh -c #(nop)  ARG GREETING=hello');
  assert.equal(history[1]!.created_by, '/bin/sh -c #(nop)  ENV APP=/srv/app MSG=hi world ALT=');
  assert.match(history[4]!.created_by!, /^\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \.\.\/ $/);
  assert.match(history[5]!.created_by!, /^\/bin\/sh -c #\(nop\) COPY dir:[0-9a-f]{64} in \/srv\/app\/src\/ $/);
  assert.equal(history[8]!.created_by, '|1 GREETING=hi /bin/sh -c echo "$MSG from $GREETING in $(pwd)" > /srv/app/run.txt && cat /proc/net/dev > /srv/app/netdev');
  assert.deepEqual(history.map((h) => h.empty_layer === true), [true, true, true, false, false, false, false, false, false, true, true, true, true, true, true, true, true, true]);
  assert.equal(history[17]!.created_by, '/bin/sh -c #(nop)  LABEL from=cli');

  // What a container of it sees: the RUN's work, COPY's rules (contents of a directory, globs,
  // owner and mode, .dockerignore with its exception), the link copied as a link.
  assert.equal(ok(b.berth('run', '--rm', '--network', 'none', 'built:1')), 'hi world from hi in /srv/app/work\n');
  const look = ok(b.berth('run', '--rm', '--network', 'none', '--entrypoint', 'sh', 'built:1', '-c',
    'cd /srv/app && for d in . src src/deep docs owned; do echo "$d:"; ls -a $d; echo; done && stat -c "%n %u:%g %a" owned/one.c ../app/app.txt && cat netdev; cat src/out 2>/dev/null || stat -c %N src/out; id -u; pwd'));
  const sections = look.split('\n\n');
  assert.equal(sections[0], '.:\n.\n..\napp.txt\ndocs\nnetdev\nowned\nrun.txt\nsrc\nwork');
  assert.equal(sections[1], 'src:\n.\n..\ndeep\none.c\nout\ntwo.c');
  assert.equal(sections[3], 'docs:\n.\n..\nkeep.md');
  assert.equal(sections[4], 'owned:\n.\n..\none.c\ntwo.c');
  assert.match(look, /owned\/one\.c 65534:65534 640\n\.\.\/app\/app\.txt 0:0 644\n/);
  assert.deepEqual(look.split('\n').filter((l) => /^\s+\w+:/.test(l)).map((l) => l.trim().split(':')[0]), ['lo'], 'RUN with --network none: lo only');
  assert.match(look, /'src\/out' -> '\/etc\/shadow'\n65534\n\/srv\/app\n$/);

  // The cache: an unchanged rebuild takes every step from it and gives the same image.
  const again = Date.now();
  const second = ok(b.berth('build', '--network', 'none', '-t', 'built:2', '--build-arg', 'GREETING=hi', '--label', 'from=cli', dir));
  const cachedMs = Date.now() - again;
  assert.equal((second.match(/ ---> Using cache\n/g) ?? []).length, 18);
  assert.doesNotMatch(second, /Running in/);
  assert.equal(store.resolve('built:2').id, store.resolve('built:1').id);
  t.diagnostic(`cold build ${coldMs} ms, cached rebuild ${cachedMs} ms (${(cachedMs / coldMs).toFixed(2)}×)`);

  // A changed COPY source: that step and the ones after it are made again, none before.
  writeFileSync(join(dir, 'src/two.c'), 'two, changed\n');
  const third = ok(b.berth('build', '-q', '--network', 'none', '-t', 'built:3', '--build-arg', 'GREETING=hi', '--label', 'from=cli', '--iidfile', join(dir, 'iid'), dir));
  assert.match(third, /^sha256:[0-9a-f]{64}\n$/);
  assert.equal(readFileSync(join(dir, 'iid'), 'utf8'), third.trim());
  const rebuilt = await imageConfig(store, 'built:3');
  assert.deepEqual(rebuilt.rootfs.diff_ids.slice(0, 5), image.rootfs.diff_ids.slice(0, 5), 'the layers before the changed COPY are the same');
  assert.notEqual(rebuilt.rootfs.diff_ids[5], image.rootfs.diff_ids[5], 'the changed COPY is a new layer');
  assert.notEqual(rebuilt.history![3 + 8]!.created, image.history![3 + 8]!.created, 'the steps after it were made again');
  assert.equal(rebuilt.history![3 + 4]!.created, image.history![3 + 4]!.created, 'the steps before it were not');

  // --no-cache: nothing from the cache.
  assert.doesNotMatch(ok(b.berth('build', '--no-cache', '--network', 'none', '-t', 'built:4', '--build-arg', 'GREETING=hi', dir)), /Using cache/);
  assert.deepEqual(leftovers(b), { containers: '', dangling: '' });
  assert.ok(ok(b.berth('images', '-a')).includes('<none>'), 'the cache is there, shown by images -a');
});

test('errors: a bad line, a failing RUN, a missing or escaping COPY source, ADD of a URL; a tar context on stdin', { skip }, async (t) => {
  const b = berthRoot(t, 'build-err');
  await buildTestImage(new ImageStore(b.root));
  const dir = context(t, { 'a.txt': 'a\n', 'link': '-> /etc/passwd' });
  const dockerfile = (text: string) => {
    writeFileSync(join(dir, 'Dockerfile'), text);
    return dir;
  };
  let r = b.berth('build', dockerfile(`FROM ${FIXTURE_REF}\n\n# c\nRUNN true\n`));
  assert.equal(r.status, 125);
  assert.equal(r.stderr, 'berth: dockerfile parse error line 4: unknown instruction: RUNN\n');
  r = b.berth('build', dockerfile(`FROM ${FIXTURE_REF}\nEXPOSE 80/tcpx\n`));
  assert.equal(r.stderr, 'berth: Dockerfile line 2: EXPOSE: invalid containerPort: 80/tcpx\n');

  // A failing RUN, on the default network: its exit status, docker's message; its container,
  // cgroup, mounts and network namespace gone.
  r = b.berth('build', dockerfile(`FROM ${FIXTURE_REF}\nRUN echo before > /x\nRUN echo failing && exit 3\n`));
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout, /failing\n/);
  assert.equal(r.stderr, "berth: The command '/bin/sh -c echo failing && exit 3' returned a non-zero code: 3\n");
  const ran = [...r.stdout.matchAll(/Running in ([0-9a-f]{12})/g)].map((m) => m[1]!);
  assert.equal(ran.length, 2);
  assert.deepEqual(cgroupsOf(ran), []);
  assert.deepEqual(ran.filter((id) => existsSync(`/run/netns/berth-${id}`)), []);
  assert.deepEqual(leftovers(b), { containers: '', dangling: '' });

  // Sources: missing; `..` and an absolute symlink stay inside the context (there, they name nothing).
  r = b.berth('build', dockerfile(`FROM ${FIXTURE_REF}\nCOPY nothere.txt /\n`));
  assert.match(r.stderr, /^berth: Dockerfile line 2: COPY failed: file not found in build context or excluded by \.dockerignore: stat nothere\.txt: file does not exist\n$/);
  r = b.berth('build', dockerfile(`FROM ${FIXTURE_REF}\nCOPY ../../../../../../etc/passwd /\n`));
  assert.match(r.stderr, /stat \.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd: file does not exist/);
  r = b.berth('build', dockerfile(`FROM ${FIXTURE_REF}\nCOPY link /stolen\n`));
  assert.match(r.stderr, /stat link: file does not exist/);
  r = b.berth('build', dockerfile(`FROM ${FIXTURE_REF}\nADD https://example.com/x.tar /\n`));
  assert.match(r.stderr, /^berth: Dockerfile line 2: ADD: https:\/\/example\.com\/x\.tar: ADD from a URL is not supported/);
  assert.deepEqual(leftovers(b), { containers: '', dangling: '' });

  // A tar on stdin is the context; -f names its Dockerfile inside it.
  writeFileSync(join(dir, 'Build.file'), `FROM ${FIXTURE_REF}\nCOPY a.txt /from-tar.txt\nCMD ["cat", "/from-tar.txt"]\n`);
  const tar = execFileSync('tar', ['-C', dir, '-c', 'a.txt', 'Build.file']);
  const id = ok(b.berthIn(tar, 'build', '-q', '-f', 'Build.file', '-t', 'fromtar', '-')).trim();
  assert.match(id, /^sha256:/);
  assert.equal(ok(b.berth('run', '--rm', '--network', 'none', 'fromtar')), 'a\n');
  assert.deepEqual(readdirSync(join(b.root, 'tmp')).filter((n) => n.startsWith('build-')), [], 'the extracted context is removed');
});

test('multi-stage: COPY --from a stage by name and index and from an image, FROM scratch, --target, ONBUILD, ADD of a local tar, --network host', { skip }, async (t) => {
  const b = berthRoot(t, 'build-multi');
  await buildTestImage(new ImageStore(b.root));
  const dir = context(t, { 'pkg/inside.txt': 'from the tar\n' });
  execFileSync('tar', ['-C', join(dir, 'pkg'), '-czf', join(dir, 'pkg.tar.gz'), 'inside.txt']);
  writeFileSync(join(dir, 'Dockerfile'), `
FROM ${FIXTURE_REF} AS builder
ARG VERSION=0
RUN mkdir /out && echo "built $VERSION" > /out/artifact && echo other > /out/other && cat /proc/net/dev > /out/netdev
ONBUILD RUN echo triggered > /onbuild.txt

FROM scratch AS final
COPY --from=builder /out/artifact /artifact
COPY --from=0 /out/other /out/netdev /more/
COPY --from=${FIXTURE_REF} /bin/busybox /bin/busybox
ADD pkg.tar.gz /unpacked/
ENTRYPOINT ["/bin/busybox"]

FROM builder AS child
RUN cat /onbuild.txt
`);
  const interfaces = (netdev: string) => netdev.split('\n').filter((l) => /^\s*[\w.@-]+:/.test(l)).map((l) => l.trim().split(':')[0]!);
  const hostBefore = interfaces(readFileSync('/proc/net/dev', 'utf8'));
  const started = Date.now();
  const out = ok(b.berth('build', '--network', 'host', '--build-arg', 'VERSION=7', '--target', 'final', '-t', 'multi:final', dir));
  // The host's interfaces that were there before and after the build (others come and go with other work).
  const hostInterfaces = interfaces(readFileSync('/proc/net/dev', 'utf8')).filter((n) => hostBefore.includes(n));
  const coldMs = Date.now() - started;
  assert.match(out, /^Step 1\/10 : FROM /);
  assert.match(out, /Step 10\/10 : ENTRYPOINT \["\/bin\/busybox"\]\n/);
  assert.doesNotMatch(out, /FROM builder AS child/, '--target stops at its stage');
  assert.equal(ok(b.berth('run', '--rm', '--network', 'none', 'multi:final', 'cat', '/artifact', '/more/other', '/unpacked/inside.txt')), 'built 7\nother\nfrom the tar\n');
  const netdev = ok(b.berth('run', '--rm', '--network', 'none', 'multi:final', 'cat', '/more/netdev'));
  assert.deepEqual(hostInterfaces.filter((n) => !interfaces(netdev).includes(n)), [], `RUN with --network host sees the host's interfaces:\n${netdev}`);
  const final = await imageConfig(new ImageStore(b.root), 'multi:final');
  assert.equal(final.rootfs.diff_ids.length, 4, 'FROM scratch: only the four COPY/ADD layers');
  assert.deepEqual(final.history!.map((h) => h.created_by!.replace(/[0-9a-f]{64}/, 'H')), [
    '/bin/sh -c #(nop) COPY file:H in /artifact ',
    '/bin/sh -c #(nop) COPY multi:H in /more/ ',
    '/bin/sh -c #(nop) COPY file:H in /bin/busybox ',
    '/bin/sh -c #(nop) ADD file:H in /unpacked/ ',
    '/bin/sh -c #(nop)  ENTRYPOINT ["/bin/busybox"]',
  ]);

  // The cached rebuild: every step from the cache, COPY --from by its source image's id (no root
  // of it opened), the same image. A changed stage is a new source: its COPY --from is made again.
  const again = Date.now();
  const cached = ok(b.berth('build', '--network', 'host', '--build-arg', 'VERSION=7', '--target', 'final', '-t', 'multi:again', dir));
  const cachedMs = Date.now() - again;
  assert.equal((cached.match(/ ---> Using cache\n/g) ?? []).length, 8, cached);
  const store = new ImageStore(b.root);
  assert.equal(store.resolve('multi:again').id, store.resolve('multi:final').id);
  t.diagnostic(`multi-stage: cold build ${coldMs} ms, cached rebuild ${cachedMs} ms (${(cachedMs / coldMs).toFixed(2)}×)`);
  const changed = ok(b.berth('build', '--network', 'host', '--build-arg', 'VERSION=8', '--target', 'final', '-t', 'multi:v8', dir));
  assert.match(changed, /Step 6\/10 : COPY --from=builder \/out\/artifact \/artifact\n ---> [0-9a-f]{12}\n/, 'a new source stage: no cache');
  assert.equal(ok(b.berth('run', '--rm', '--network', 'none', 'multi:v8', 'cat', '/artifact')), 'built 8\n');

  // The whole file: the last stage is built FROM the first, whose ONBUILD trigger runs first.
  const all = ok(b.berth('build', '--network', 'none', '--build-arg', 'VERSION=7', '-t', 'multi:child', dir));
  assert.match(all, /Step 11\/12 : FROM builder AS child\n ---> [0-9a-f]{12}\n# Executing 1 build trigger\n ---> Running in .*\n ---> Removing .*\n ---> [0-9a-f]{12}\nStep 12\/12 : RUN cat \/onbuild.txt\n ---> Running in [0-9a-f]{12}\ntriggered\n/);
  const child = await imageConfig(new ImageStore(b.root), 'multi:child');
  assert.equal(child.config!.OnBuild ?? null, null, 'the triggers ran, and are not passed on');
  assert.deepEqual(leftovers(b), { containers: '', dangling: '' });
});

/** `berth build` in the background, sent `signal` once its RUN has printed `started`; its exit status and output. */
async function buildInterrupted(b: BerthRoot, signal: NodeJS.Signals, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BERTH, 'build', ...args], { env: b.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('started\n')) resolve();
    }),
  );
  child.kill(signal);
  return { status: await exited, stdout, stderr };
}

test('--pull takes a newer base from the registry, --explain shows the RUN\'s container plan, SIGINT or SIGTERM mid-RUN leaves nothing', { skip: skip || (!registryAvailable() && 'docker-registry not found (apt-get install docker-registry)') }, async (t) => {
  const b = berthRoot(t, 'build-flags');
  await buildTestImage(new ImageStore(b.root));
  const registry = await startRegistry(t);
  const base = `${registry.host}/build/base:1`;
  const dir = context(t, {});
  const dockerfile = (text: string) => {
    writeFileSync(join(dir, 'Dockerfile'), text);
    return dir;
  };
  // The registry has a newer base (one more layer) than the store, under the same name.
  ok(b.berth('build', '-q', '--network', 'none', '-t', base, dockerfile(`FROM ${FIXTURE_REF}\nRUN echo 2 > /version\n`)));
  ok(b.berth('push', base));
  ok(b.berth('tag', FIXTURE_REF, base));
  const file = dockerfile(`FROM ${base}\nRUN cat /version 2>/dev/null || echo none\n`);
  assert.match(ok(b.berth('build', '--network', 'none', '-t', 'not-pulled', file)), / ---> Running in [0-9a-f]{12}\nnone\n/, 'without --pull: the base in the store');
  const pulled = ok(b.berth('build', '--pull', '--network', 'none', '-t', 'pulled', file));
  assert.match(pulled, / ---> Running in [0-9a-f]{12}\n2\n/, `--pull: the registry's newer base\n${pulled}`);
  assert.notEqual(new ImageStore(b.root).resolve(base).id, new ImageStore(b.root).resolve(FIXTURE_REF).id, 'the name now names the pulled image');

  // The built image, pushed, is an image to the other tools: skopeo reads its manifest and config,
  // podman pulls it (digests checked, layers unpacked into its own storage) and reads its config.
  const shared = `${registry.host}/build/pulled:1`;
  ok(b.berth('tag', 'pulled', shared));
  ok(b.berth('push', shared));
  const builtConfig = await imageConfig(new ImageStore(b.root), 'pulled');
  const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${shared}`], { encoding: 'utf8' })) as { Layers: string[]; Digest: string };
  assert.equal(inspected.Layers.length, builtConfig.rootfs.diff_ids.length);
  const defer = undoStack(t);
  const podmanDir = engineDir(defer, 'build-podman');
  const podman = (...args: string[]) =>
    podmanWithPrivateCache(['--root', join(podmanDir, 'root'), '--runroot', join(podmanDir, 'runroot'), '--tmpdir', join(podmanDir, 'tmp'), '--storage-driver', 'overlay', '--events-backend', 'none', '--cgroup-manager', 'cgroupfs', ...args]);
  engineOk('podman pull', podman('pull', '--quiet', '--tls-verify=false', shared));
  const podmanConfig = JSON.parse(engineOk('podman image inspect', podman('image', 'inspect', '--format', '{{json .Config.Cmd}} {{json .Digest}}', shared)).replace(' ', ',').replace(/^/, '[').replace(/$/, ']')) as [string[], string];
  assert.deepEqual(podmanConfig, [builtConfig.config?.Cmd, inspected.Digest]);

  // --explain: the RUN's container, as the shell lines that would make it (on stderr).
  const explained = b.berth('build', '--explain', '--no-cache', '--network', 'none', '-t', 'explained', file);
  assert.equal(explained.status, 0, explained.stderr);
  const ran = /Running in ([0-9a-f]{12})/.exec(explained.stdout)![1]!;
  assert.match(explained.stderr, new RegExp(`^mount -t overlay -o lowerdir=.*/containers/${ran}[0-9a-f]*/upper,`, 'm'));
  assert.match(explained.stderr, /^cd \S+\/rootfs && pivot_root \. \. && umount -l \. && cd \/$/m);
  assert.match(explained.stderr, /^exec setpriv .* \/bin\/sh -c 'cat \/version 2>\/dev\/null \|\| echo none'/m);

  // Stopped mid-RUN (--network none, then the default bridge): berth exits as the signal would
  // have it, and the RUN's container, cgroup, mounts and network namespace are gone.
  for (const [signal, network, status] of [['SIGINT', 'none', 130], ['SIGTERM', 'default', 143]] as const) {
    const r = await buildInterrupted(b, signal, ['--network', network, dockerfile(`FROM ${FIXTURE_REF}\nRUN echo started && sleep 1000\nRUN echo never\n`)]);
    assert.equal(r.status, status, `${signal}: ${r.stderr}`);
    assert.equal(r.stderr, `berth: the build was stopped (${signal}): nothing of the step it was in is left\n`);
    const id = /Running in ([0-9a-f]{12})/.exec(r.stdout)![1]!;
    assert.deepEqual(cgroupsMentioning([id]), [], signal);
    assert.deepEqual(hostMountsMentioning(id), [], signal);
    assert.equal(existsSync(`/run/netns/berth-${id}`), false, signal);
    assert.deepEqual(leftovers(b), { containers: '', dangling: '' }, signal);
  }
});
