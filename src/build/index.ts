// `berth build`: images from Dockerfiles, as a front end over the engine (builder.ts).
export { build, type BuildOptions, type BuildProgress, type BuildResult } from './builder.js';
export { BuildCancelledError, BuildError, RunFailedError } from './context.js';
export { DockerfileError, parseDockerfile, type Dockerfile, type Instruction } from './parser.js';
export { applyChanges } from './changes.js';
