// One measured rlhf/ process: a backend is chosen once per process, so the
// harness spawns this once per backend (`node --import tsx
// bench/model-worker.ts '{"backend":"wasm"}'`) and drives it over the line
// protocol of protocol.ts: setup (build model, batch, prompts; warm up),
// train (timed SftTrainer.step calls), gen (timed generate calls), profile
// (kernel times of one training step and one cached decoding step), exit.
import { createInterface } from 'node:readline';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../rlhf/backend.js';
import { buildBatch, type SequenceBatch } from '../rlhf/batch.js';
import { PolicyModel } from '../rlhf/model.js';
import { Rng } from '../rlhf/rng.js';
import { generate, openDecoder } from '../rlhf/sampling.js';
import { constantLr } from '../rlhf/schedule.js';
import { SftTrainer } from '../rlhf/sft.js';
import { answer } from './protocol.js';
import { dispatchMicros, profileKernels } from './profile.js';
import type { SizeSpec } from './sizes.js';

interface WorkerArgs {
  backend: BackendName;
}

/** What setup receives: a size plus run options (the same object the PyTorch side gets). */
export interface SetupConfig {
  model: SizeSpec['model'];
  train: SizeSpec['train'];
  gen: SizeSpec['gen'];
  seed: number;
  warmupSteps: number;
  warmupGens: number;
}

const FIRST_ID = 5; // ids below are the tokenizer's specials

class Bench {
  readonly model: PolicyModel;
  readonly trainer: SftTrainer;
  readonly batch: SequenceBatch;
  readonly prompts: number[][];
  readonly sampler: Rng;

  constructor(readonly cfg: SetupConfig) {
    const rng = new Rng(cfg.seed);
    this.model = new PolicyModel(cfg.model, rng.fork('init'));
    this.trainer = new SftTrainer(this.model, { schedule: constantLr(1e-4) });
    const data = rng.fork('data');
    const V = cfg.model.vocabSize;
    const ids = (n: number) => Array.from({ length: n }, () => FIRST_ID + data.int(V - FIRST_ID));
    const { batch: B, seqLen: T, promptLen: P } = cfg.train;
    this.batch = buildBatch(
      Array.from({ length: B }, () => ids(P)),
      Array.from({ length: B }, () => ids(T - P)),
      cfg.model.contextLength,
    );
    if (this.batch.seqLen !== T) throw new Error(`training batch has ${this.batch.seqLen} columns, wanted ${T}`);
    this.prompts = Array.from({ length: cfg.gen.batch }, () => ids(cfg.gen.promptLen));
    this.sampler = rng.fork('sample');
  }

  async trainStep(): Promise<number> {
    return (await this.trainer.step(this.batch)).loss;
  }

  async generate(): Promise<number> {
    // eosId −1: no row ever stops, so every call produces batch × newTokens tokens.
    const out = await generate(this.model, this.prompts, this.sampler, { maxNewTokens: this.cfg.gen.newTokens, eosId: -1 });
    return out.responses.reduce((n, r) => n + r.length, 0);
  }

  /**
   * Kernels of one cached decoding step after a prefill: generate's own
   * decoding loop (sampling.ts openDecoder: decode-native.ts on tfjs-node),
   * all rows on this thread, each profiled call appending the next column.
   */
  async profileDecodeStep() {
    const B = this.prompts.length;
    const prefill = buildBatch(this.prompts, this.prompts.map(() => []), this.model.config.contextLength);
    const decoder = openDecoder(this.model, prefill, this.cfg.gen.newTokens);
    try {
      decoder.prefill();
      const ids = new Int32Array(B).fill(FIRST_ID);
      let t = prefill.promptLen;
      const decodeStep = async () => {
        decoder.step(ids, new Int32Array(B).fill(t), t);
        t++;
      };
      return await profileKernels(decodeStep, { plainRuns: 10 });
    } finally {
      decoder.dispose();
    }
  }
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as WorkerArgs;
  // The harness also sets CRLHF_BACKEND; pin it so nothing falls back silently.
  process.env.CRLHF_BACKEND = args.backend;
  const info = await initBackend(args.backend);
  let bench: Bench | undefined;
  const need = (): Bench => {
    if (!bench) throw new Error('setup first');
    return bench;
  };
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const msg = JSON.parse(line) as { cmd: string; config?: SetupConfig; steps?: number; runs?: number };
    try {
      switch (msg.cmd) {
        case 'setup': {
          bench?.trainer.dispose();
          bench?.model.dispose();
          bench = new Bench(msg.config as SetupConfig);
          for (let i = 0; i < bench.cfg.warmupSteps; i++) await bench.trainStep();
          for (let i = 0; i < bench.cfg.warmupGens; i++) await bench.generate();
          answer({ params: bench.model.numParams, backend: info, numTensors: tf.memory().numTensors });
          break;
        }
        case 'train': {
          const b = need();
          const ms: number[] = [];
          let loss = NaN;
          for (let i = 0; i < (msg.steps ?? 1); i++) {
            const t0 = performance.now();
            loss = await b.trainStep();
            ms.push(performance.now() - t0);
          }
          answer({ ms, tokens: b.batch.batchSize * b.batch.seqLen, loss, numTensors: tf.memory().numTensors });
          break;
        }
        case 'gen': {
          const b = need();
          const ms: number[] = [];
          let newTokens = 0;
          for (let i = 0; i < (msg.runs ?? 1); i++) {
            const t0 = performance.now();
            newTokens = await b.generate();
            ms.push(performance.now() - t0);
          }
          answer({ ms, newTokens, numTensors: tf.memory().numTensors });
          break;
        }
        case 'profile': {
          const b = need();
          const train = await profileKernels(() => b.trainStep());
          const decode = await b.profileDecodeStep();
          answer({ train, decode, dispatchUs: dispatchMicros() });
          break;
        }
        case 'exit':
          answer({ ok: true });
          process.exit(0);
        default:
          throw new Error(`unknown command ${msg.cmd}`);
      }
    } catch (err) {
      answer({ error: (err as Error).stack ?? String(err) });
    }
  }
}

await main();
