// `berth tour [CHAPTER] [--step]`: the story of how a container is built, replayed on real
// containers (src/tour/).
import { bool, UsageError } from './args.js';
import type { CommandSpec } from './command.js';
import { runTour, selectChapters, TourUsageError } from '../tour/index.js';

export const tourCommands: CommandSpec[] = [
  {
    name: 'tour',
    section: 'system',
    summary: 'How a container is built, shown on real ones, step by step',
    usage: '[OPTIONS] [CHAPTER]',
    flags: [{ name: 'step', boolean: true, help: 'Wait for Enter before each step' }],
    async run({ engine }, p) {
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
  },
];
