// A Dockerfile's stages: the ARGs before the first FROM (the global scope, for FROM lines), then
// one stage per FROM (`FROM image [AS name]`), up to --target. Every stage up to the target is
// built, as docker's classic builder does; the step count covers them.
import { DockerfileError, splitWords, type Dockerfile, type Instruction } from './parser.js';

export interface StagePlan {
  index: number;
  /** `AS name`, lower-cased (docker compares stage names without case). */
  name?: string;
  from: Instruction;
  /** The image word of FROM, unexpanded. */
  base: string;
  platform?: string;
  instructions: Instruction[];
}

export interface BuildPlan {
  globalArgs: Instruction[];
  stages: StagePlan[];
  /** Step count for `Step N/M`: the global ARGs and every instruction of the stages built, FROM included. */
  steps: number;
}

export function planStages(dockerfile: Dockerfile, target: string | undefined): BuildPlan {
  const globalArgs: Instruction[] = [];
  const stages: StagePlan[] = [];
  for (const ins of dockerfile.instructions) {
    if (ins.keyword === 'FROM') {
      const words = splitWords(ins.args, dockerfile.escape);
      let name: string | undefined;
      if (words.length === 3 && words[1]!.toUpperCase() === 'AS') name = words[2]!.toLowerCase();
      else if (words.length !== 1) throw new DockerfileError(`Dockerfile line ${ins.line}: FROM requires either one or three arguments (FROM image [AS name])`);
      if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw new DockerfileError(`Dockerfile line ${ins.line}: FROM: invalid name for build stage: ${JSON.stringify(words[2])}, name can't start with a number or contain symbols`);
      if (name !== undefined && stages.some((s) => s.name === name)) throw new DockerfileError(`Dockerfile line ${ins.line}: FROM: duplicate name ${JSON.stringify(name)}`);
      for (const flag of Object.keys(ins.flags)) if (flag !== 'platform') throw new DockerfileError(`Dockerfile line ${ins.line}: FROM: unknown flag: --${flag}`);
      const platform = ins.flags.platform;
      stages.push({ index: stages.length, ...(name !== undefined ? { name } : {}), from: ins, base: words[0]!, ...(typeof platform === 'string' ? { platform } : {}), instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new DockerfileError(`Dockerfile line ${ins.line}: ${ins.keyword}: no build stage yet (only ARG may come before the first FROM)`);
      globalArgs.push(ins);
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  if (stages.length === 0) throw new DockerfileError('the Dockerfile has no FROM: no build stage in it');
  let upTo = stages.length - 1;
  if (target !== undefined) {
    upTo = stages.findIndex((s) => s.name === target.toLowerCase());
    if (upTo < 0) throw new DockerfileError(`failed to reach build target ${target} in Dockerfile`, { kind: 'not-found' });
  }
  const built = stages.slice(0, upTo + 1);
  return { globalArgs, stages: built, steps: globalArgs.length + built.reduce((n, s) => n + 1 + s.instructions.length, 0) };
}
