// Where every artifact of an experiment lives in the store. Steps whose
// outputs depend only on their inputs (data, SFT, reward model, baselines)
// are content-addressed under cache/<step>/<inputs hash>/, so every run and
// sweep trial with the same inputs shares them; everything else is scoped to
// the run.
import { joinKey } from '../storage/keys.js';

export const layout = {
  cacheDir: (step: string, hash: string) => joinKey('cache', step, hash),
  /** Written last by a cached step: its presence means the step is done. */
  cacheOutput: (step: string, hash: string) => joinKey('cache', step, hash, 'OUTPUT.json'),
  runDir: (run: string) => joinKey('runs', run),
  runRecord: (run: string) => joinKey('runs', run, 'run.json'),
  /** Which cached output a run used for a step, and whether it computed or reused it. */
  runStep: (run: string, step: string) => joinKey('runs', run, 'steps', `${step}.json`),
  armDir: (run: string, arm: string) => joinKey('runs', run, 'arms', arm),
  armCheckpoints: (run: string, arm: string) => joinKey('runs', run, 'arms', arm, 'checkpoints'),
  armOutput: (run: string, arm: string) => joinKey('runs', run, 'arms', arm, 'OUTPUT.json'),
  evalDir: (run: string) => joinKey('runs', run, 'eval'),
  reportDir: (run: string) => joinKey('runs', run, 'report'),
  summary: (run: string) => joinKey('runs', run, 'summary.json'),
};
