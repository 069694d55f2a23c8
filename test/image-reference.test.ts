// Image references as docker normalises them, shown back as docker shows them, and refused where
// docker refuses them (with a message that says why).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { familiarName, familiarRepository, formatReference, normalizeReference, parseReference, registryHost } from '../src/image/reference.js';
import { InvalidReferenceError } from '../src/image/errors.js';

const HEX = 'a'.repeat(64);

describe('image references', () => {
  test('normalisation table', () => {
    const table: [string, string, string][] = [
      // input, normalised, familiar
      ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
      ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
      ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
      ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
      ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1', 'busybox:1'],
      ['user/app:1', 'docker.io/user/app:1', 'user/app:1'],
      ['user/team/app', 'docker.io/user/team/app:latest', 'user/team/app:latest'],
      ['localhost/x', 'localhost/x:latest', 'localhost/x:latest'],
      ['localhost:5000/x', 'localhost:5000/x:latest', 'localhost:5000/x:latest'],
      ['127.0.0.1:5000/a/b:v2', '127.0.0.1:5000/a/b:v2', '127.0.0.1:5000/a/b:v2'],
      ['registry.example.com/a/b:tag', 'registry.example.com/a/b:tag', 'registry.example.com/a/b:tag'],
      ['ghcr.io/owner/img', 'ghcr.io/owner/img:latest', 'ghcr.io/owner/img:latest'],
      ['[::1]:5000/x:1', '[::1]:5000/x:1', '[::1]:5000/x:1'],
      [`busybox@sha256:${HEX}`, `docker.io/library/busybox@sha256:${HEX}`, `busybox@sha256:${HEX}`],
      [`busybox:1@sha256:${HEX}`, `docker.io/library/busybox:1@sha256:${HEX}`, `busybox:1@sha256:${HEX}`],
      ['ab_c-d__e/f--g.h', 'docker.io/ab_c-d__e/f--g.h:latest', 'ab_c-d__e/f--g.h:latest'],
      ['x:Tag_1.0-rc', 'docker.io/library/x:Tag_1.0-rc', 'x:Tag_1.0-rc'],
      ['Registry.Example.com/a', 'Registry.Example.com/a:latest', 'Registry.Example.com/a:latest'],
    ];
    for (const [input, normal, familiar] of table) {
      assert.equal(normalizeReference(input), normal, input);
      assert.equal(familiarName(normal), familiar, normal);
      assert.equal(normalizeReference(normal), normal, `${normal} is a fixed point`);
    }
  });

  test('the parts', () => {
    assert.deepEqual(parseReference('localhost:5000/x/y:t'), { domain: 'localhost:5000', path: 'x/y', tag: 't' });
    assert.deepEqual(parseReference('busybox', { defaultTag: false }), { domain: 'docker.io', path: 'library/busybox' });
    assert.deepEqual(parseReference(`busybox@sha256:${HEX.toUpperCase()}`), { domain: 'docker.io', path: 'library/busybox', digest: `sha256:${HEX}` });
    assert.equal(familiarRepository(parseReference('busybox')), 'busybox');
    assert.equal(familiarRepository(parseReference('docker.io/library/a/b')), 'library/a/b');
    assert.equal(familiarRepository(parseReference('quay.io/x/y')), 'quay.io/x/y');
    assert.equal(formatReference({ domain: 'docker.io', path: 'library/x' }), 'docker.io/library/x');
  });

  test("Docker Hub's API host is not docker.io", () => {
    assert.equal(registryHost(parseReference('busybox').domain), 'registry-1.docker.io');
    assert.equal(registryHost(parseReference('localhost:5000/x').domain), 'localhost:5000');
  });

  test('invalid references are refused, saying why', () => {
    const bad: [string, RegExp][] = [
      ['', /empty/],
      ['Busybox', /must be lowercase/],
      ['user/App', /must be lowercase/],
      ['busybox:', /bad tag ""/],
      ['busybox:-x', /bad tag/],
      [`busybox:${'t'.repeat(129)}`, /bad tag/],
      ['busybox@sha256:abc', /bad digest/],
      [`busybox@sha512:${'a'.repeat(128)}`, /unsupported digest algorithm sha512/],
      [`busybox@sha256:${'a'.repeat(63)}`, /bad digest|64 hex/],
      [HEX, /image id, not a repository name/],
      ['a//b', /bad repository name/],
      ['-a/b', /bad repository name|bad registry/],
      ['a/b_', /bad repository name/],
      ['a b', /bad repository name/],
      [':tag', /no repository name/],
      ['host:port/x', /bad registry/],
      [`x/${'a'.repeat(260)}`, /longer than 255/],
      ['busybox@@sha256:x', /bad digest/],
    ];
    for (const [input, why] of bad) {
      assert.throws(
        () => parseReference(input),
        (err: unknown) => {
          assert.ok(err instanceof InvalidReferenceError, `${input}: ${String(err)}`);
          assert.match(err.message, /^invalid reference /);
          assert.match(err.message, why, input);
          assert.ok(!err.message.includes('\n'));
          return true;
        },
        input,
      );
    }
  });
});
