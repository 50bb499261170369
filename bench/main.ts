// `npm run bench -- <which>`: the benchmark harnesses, not part of the tests.
//   model     rlhf/ training and generation vs PyTorch on the CPU (bench/model.ts)
//   pipeline  the whole experiment pipeline (bench/pipeline.ts, written separately)
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [which, ...rest] = process.argv.slice(2);

async function main(): Promise<number> {
  switch (which) {
    case 'model': {
      const { runModelBench } = await import('./model.js');
      return runModelBench(rest);
    }
    // ---- pipeline: owned by whoever writes bench/pipeline.ts; loaded lazily so
    // ---- the model benchmark runs without it. It must export runPipelineBench(argv).
    case 'pipeline': {
      if (!existsSync(fileURLToPath(new URL('./pipeline.ts', import.meta.url)))) {
        console.error('bench:pipeline is not written yet');
        return 2;
      }
      const mod = (await import('./pipeline.js' as string)) as { runPipelineBench?: (argv: string[]) => Promise<number> };
      if (typeof mod.runPipelineBench !== 'function') {
        console.error('bench/pipeline.ts does not export runPipelineBench(argv)');
        return 2;
      }
      return mod.runPipelineBench(rest);
    }
    default:
      console.error(`usage: npm run bench -- model|pipeline [options]   (npm run bench:model -- --help)`);
      return 2;
  }
}

process.exitCode = await main();
