// What a subcommand of `berth` is, below berth.ts and every file of subcommands: they name it
// from here, so that berth.ts, which gathers them, is imported by none of them.
import type { Engine } from '../engine/engine.js';

export interface Ctx {
  engine: Engine;
}

export type Command = (ctx: Ctx, argv: string[]) => Promise<number>;
