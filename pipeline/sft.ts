// Step 2, SFT: the policy learns the demonstrations (response tokens only),
// checkpointing every N steps; a retried attempt continues from the last
// checkpoint with the same data order, so it ends with the same weights.
import { Rng } from '../rlhf/rng.js';
import { PolicyModel } from '../rlhf/model.js';
import { SftTrainer, sftBatch, evaluateSft } from '../rlhf/sft.js';
import { loadModelWeights, loadOptimizerState } from '../rlhf/checkpoint.js';
import { openStore } from '../storage/index.js';
import { joinKey } from '../storage/keys.js';
import type { Plan } from './plan.js';
import { testStepDelay, type StepContext, type StepProgress } from './context.js';
import { cachedStep } from './steps.js';
import { loadData, type ExperimentData } from './data.js';
import { backendFor, commitTrainingState, loadLatestTrainingState, transformerConfig } from './models.js';
import type { BackendRef } from './models.js';
import { epochBatch } from './batches.js';

export interface SftResult {
  steps: number;
  finalLoss: number;
  evalLoss: number;
  /** Key of the final model checkpoint's directory. */
  model: string;
  modelUri: string;
  backend: BackendRef;
  resumedFrom: number;
}

export const sftModelDir = (plan: Plan) => joinKey(plan.steps.sft.dir, 'model');

export async function trainSft(input: { plan: Plan }, ctx: StepContext) {
  const { plan } = input;
  const store = openStore(plan.storeUri);
  return cachedStep(store, plan.runName, plan.steps.sft, ctx.attempt, async (): Promise<SftResult> => {
    const cfg = plan.config.sft;
    const backend = await backendFor(plan.config);
    const data = await loadData(store, plan.steps.data.dir);
    const model = new PolicyModel(transformerConfig(plan.config, data.tokenizer), new Rng(plan.config.seed).fork('sft.init'));
    const trainer = new SftTrainer(model, {
      schedule: { peakLr: cfg.lr, warmupSteps: cfg.warmup_steps, totalSteps: cfg.steps, decay: cfg.decay === 'none' ? 'constant' : cfg.decay },
      optimizer: { weightDecay: cfg.weight_decay },
      maxGradNorm: cfg.grad_clip,
    });
    const ckptPrefix = joinKey(plan.steps.sft.dir, 'checkpoints');
    const resumed = await loadLatestTrainingState(store, ckptPrefix);
    if (resumed) {
      loadModelWeights(resumed.ckpt, 'policy', model);
      loadOptimizerState(resumed.ckpt, 'policy', trainer.optimizer);
    }
    const { train, heldOut } = splitSft(data);
    const start = trainer.stepCount;
    let lastCkpt = resumed?.manifest.uri;
    let loss = NaN;
    try {
      for (let step = start; step < cfg.steps; step++) {
        if (ctx.signal.aborted) throw new Error('SFT cancelled');
        const rows = epochBatch(train, cfg.batch_size, step, plan.config.seed, 'sft');
        const res = await trainer.step(sftBatch(data.tokenizer, rows, plan.config.model.context_length));
        loss = res.loss;
        const done = step + 1;
        if (done % cfg.checkpoint_every === 0 && done < cfg.steps) {
          lastCkpt = (await commitTrainingState(store, ckptPrefix, { step: done, models: { policy: model }, optimizers: { policy: trainer.optimizer }, tokenizer: data.tokenizer }, plan.steps.sft.hash)).uri;
        }
        ctx.heartbeat({ phase: 'sft', step: done, total: cfg.steps, metrics: { loss: res.loss, lr: res.lr }, checkpoint: lastCkpt } satisfies StepProgress);
        await testStepDelay('sft');
      }
      const evalLoss = (await evaluateSft(model, batchesOf(heldOut, data, plan))).loss;
      const final = await commitTrainingState(store, sftModelDir(plan), { step: cfg.steps, models: { policy: model }, tokenizer: data.tokenizer }, plan.steps.sft.hash, 1);
      return { steps: cfg.steps, finalLoss: loss, evalLoss, model: final.dir, modelUri: final.uri, backend, resumedFrom: start };
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });
}

/** The last 5% of demonstrations (at most 256) are held out to report an evaluation loss. */
function splitSft(data: ExperimentData) {
  const n = Math.min(256, Math.floor(data.sft.length * 0.05));
  return { train: data.sft.slice(0, data.sft.length - n), heldOut: data.sft.slice(data.sft.length - n) };
}

function* batchesOf(rows: ExperimentData['sft'], data: ExperimentData, plan: Plan) {
  for (let i = 0; i < rows.length; i += 64) yield sftBatch(data.tokenizer, rows.slice(i, i + 64), plan.config.model.context_length);
}
