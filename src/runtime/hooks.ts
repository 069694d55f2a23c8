// OCI hooks: programs the runtime runs at points of a container's life, the state JSON on their stdin.
import { createRequire } from 'node:module';
import type { Hook, HookKind, OciState } from '../oci/runtime-spec.js';
import { BerthError } from '../errors.js';

// node:child_process (and the dgram and net it loads) on first use, not at every berth-runtime
// start: most containers have no hooks (issue 17).
const childProcess = () => createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');

export class HookError extends BerthError {
  override readonly name = 'HookError';
}

/** Runs one hook in the runtime's namespaces; rejects on a non-zero exit or a timeout. */
export function runHook(kind: HookKind, hook: Hook, state: OciState): Promise<void> {
  return new Promise((resolve, reject) => {
    const [argv0, ...args] = hook.args?.length ? hook.args : [hook.path];
    const child = childProcess().spawn(hook.path, args, {
      argv0,
      env: Object.fromEntries((hook.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
      stdio: ['pipe', 'inherit', 'inherit'],
    });
    let timer: NodeJS.Timeout | undefined;
    if (hook.timeout) {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new HookError(`${kind} hook ${hook.path}: timed out after ${hook.timeout}s`));
      }, hook.timeout * 1000);
    }
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new HookError(`${kind} hook ${hook.path}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new HookError(`${kind} hook ${hook.path}: ${signal ? `killed by ${signal}` : `exit status ${code}`}`));
    });
    child.stdin.on('error', () => {}); // a hook need not read its stdin
    child.stdin.end(JSON.stringify(state));
  });
}

export async function runHooks(kind: HookKind, hooks: Hook[] | undefined, state: OciState): Promise<void> {
  for (const hook of hooks ?? []) await runHook(kind, hook, state);
}

/**
 * poststart and poststop hooks: the runtime-spec says a failing one is logged as a warning, and the
 * remaining hooks and the operation go on (the container has started, or is already gone).
 */
export async function runHooksWarning(kind: 'poststart' | 'poststop', hooks: Hook[] | undefined, state: OciState, warn: (message: string) => void): Promise<void> {
  for (const hook of hooks ?? []) {
    try {
      await runHook(kind, hook, state);
    } catch (err) {
      if (!(err instanceof HookError)) throw err;
      warn(err.message);
    }
  }
}
