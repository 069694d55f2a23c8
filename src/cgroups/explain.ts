// A cgroup plan as the shell lines a person would type (`--explain`). It lives here, not in
// src/explain, because src/explain knows nothing of the cgroup layer; it uses that folder's
// renderers so every plan reads alike.
import { renderCgroupWrite, renderMkdir, shellQuote } from '../explain/render.js';
import type { CgroupOp } from './driver.js';
import { describeDeviceRule } from './resources.js';

export function renderCgroupOps(ops: CgroupOp[]): string[] {
  return ops.map((op) => {
    switch (op.op) {
      case 'mkdir':
        return renderMkdir(op.path);
      case 'write': {
        const line = renderCgroupWrite(op.path, op.value);
        if (op.ifMissing === undefined) return line;
        // A file this kernel may lack: test for it, as one would by hand.
        const test = `[ -e ${shellQuote(op.path)} ]`;
        if (op.ifMissing === 'skip') return `${test} && ${line}`;
        return `if ${test}; then ${line}; else ${renderCgroupWrite(op.ifMissing.path, op.ifMissing.value)}; fi`;
      }
      case 'attachDeviceFilter': {
        const rules = op.rules.length === 0 ? 'deny every device (no rules)' : op.rules.map(describeDeviceRule).join(', ');
        return `# attach an eBPF device filter to ${op.path}: ${rules} (the last matching rule wins)`;
      }
    }
  });
}
