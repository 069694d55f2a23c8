// `berth tour [CHAPTER] [--step]`: the story of how a container is built, replayed on real
// containers (src/tour/).
import { bool, parseArgs, UsageError } from './args.js';
import type { Command } from './command.js';
import { runTour, selectChapters, TourUsageError } from '../tour/index.js';

export const tourCommands: Record<string, Command> = {
  async tour({ engine }, argv) {
    const p = parseArgs(argv, [{ name: 'step', boolean: true }]);
    if (p.positionals.length > 1) throw new UsageError('tour: berth tour [CHAPTER] [--step]');
    let chapters;
    try {
      chapters = selectChapters(p.positionals[0]);
    } catch (err) {
      if (err instanceof TourUsageError) throw new UsageError(err.message);
      throw err;
    }
    return runTour(engine, { chapters, step: bool(p, 'step') });
  },
};
