// SCMP_ACT_NOTIFY: the filter's listener fd goes to the seccomp agent listening at
// linux.seccomp.listenerPath, with the container process state (runtime-spec config-linux.md,
// "The Container Process State"): one connection per listener, the JSON with the fd attached,
// then closed. runc does the same from its parent process.
import { closeSync } from 'node:fs';
import { native } from '../kernel/native.js';
import type { OciState } from '../oci/runtime-spec.js';

export interface ContainerProcessState {
  ociVersion: string;
  fds: string[];
  pid: number;
  metadata?: string;
  state: OciState;
}

/**
 * Receives the listener the child sent on `receiveFd` and hands it to the agent. Throws when the
 * agent cannot be reached: the spec asks the runtime to fail then, rather than leave a filter
 * whose notified syscalls no one answers.
 */
export function handOverListener(listener: { path: string; metadata: string }, receiveFd: number, pid: number, state: OciState): void {
  const listenerFd = native.recvFd(receiveFd);
  let socket = -1;
  try {
    const message: ContainerProcessState = { ociVersion: state.ociVersion, fds: ['seccompFd'], pid, state };
    if (listener.metadata) message.metadata = listener.metadata;
    socket = native.unixConnect(listener.path);
    native.sendFd(socket, listenerFd, Buffer.from(JSON.stringify(message)));
  } catch (err) {
    throw new Error(`linux.seccomp.listenerPath ${listener.path}: cannot hand the seccomp listener to the agent: ${(err as Error).message}`);
  } finally {
    if (socket >= 0) closeSync(socket);
    closeSync(listenerFd);
  }
}
