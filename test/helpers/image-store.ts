// Image stores for tests: a fresh root per test, a listing of everything in it (to show that a
// refused operation left the store as it was), and node processes that use the store at the same
// time as the test (several `berth` processes racing on one root).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TestContext } from 'node:test';
import { ImageStore } from '../../src/image/store.js';

/** A new, empty store root, removed after the test. */
export function tempStore(t: TestContext): ImageStore {
  const root = mkdtempSync('/tmp/berth-test-images-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return new ImageStore(root);
}

/**
 * Every file under the root with its size, and the image records: what "the store as it was"
 * means. Empty directories are not listed (they hold nothing).
 */
export function storeListing(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const path = join(dir, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else out.push(`${relative(root, path)} ${st.size}`);
    }
  };
  walk(root);
  try {
    out.push(`images.json: ${readFileSync(join(root, 'images.json'), 'utf8')}`);
  } catch {
    out.push('images.json: none');
  }
  return out;
}

/** Files directly in <root>/tmp and <root>/blobs/sha256. */
export function blobAndTempFiles(root: string): { blobs: string[]; tmp: string[] } {
  const list = (dir: string) => {
    try {
      return readdirSync(dir).sort();
    } catch {
      return [];
    }
  };
  return { blobs: list(join(root, 'blobs', 'sha256')), tmp: list(join(root, 'tmp')) };
}

export interface NodeResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The URL of a compiled module of the project, for a child's `import`. */
export function moduleUrl(pathFromDist: string): string {
  return new URL(`../../${pathFromDist}`, import.meta.url).href;
}

/**
 * Runs an ES module body in a new node process; `args` become process.argv.slice(1) there
 * (after `--`). The body may `await` and import the project's modules by moduleUrl().
 */
export function runNode(body: string, args: string[] = [], timeoutMs = 60_000): Promise<NodeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', body, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
