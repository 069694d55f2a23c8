// `--change` of docker commit and docker import (and their API's `changes`): Dockerfile lines that
// change only the image's config, read by the Dockerfile parser and applied as a build applies
// them. The instructions docker allows there, and no other: one that would run something or copy
// files (RUN, COPY, FROM...) is refused by name.
import type { ContainerConfig } from '../oci/image-spec.js';
import { applyConfigInstruction, type Stage } from './instructions.js';
import { DockerfileError, parseDockerfile, type Keyword } from './parser.js';

/** docker's list (moby's validCommitCommands). */
const CHANGE_INSTRUCTIONS = new Set<Keyword>(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);

/** `config` with the `changes` (each a Dockerfile line, `ENV A=b`) applied in order. */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  if (changes.length === 0) return config;
  const dockerfile = parseDockerfile(changes.join('\n'));
  const stage: Stage = { index: 0, imageId: '', config, args: new Map() };
  for (const ins of dockerfile.instructions) {
    if (!CHANGE_INSTRUCTIONS.has(ins.keyword)) {
      throw new DockerfileError(`${ins.keyword.toLowerCase()} is not a valid change command (use ${[...CHANGE_INSTRUCTIONS].join(', ')})`);
    }
    const result = applyConfigInstruction(ins, stage, dockerfile.escape);
    stage.config = result.config;
    if (result.cmdSet) stage.cmdSet = true;
  }
  return stage.config;
}
