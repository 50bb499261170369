// Step 3, reward model: Bradley-Terry on the (noisy) preference pairs,
// initialised from the SFT weights (or from scratch), with held-out accuracy
// on gold-labelled pairs so the reward model's noise is visible.
import { Rng } from '../rlhf/rng.js';
import { RewardModel } from '../rlhf/model.js';
import { RewardTrainer, evaluatePairs } from '../rlhf/reward-model.js';
import { loadModelWeights, loadOptimizerState, modelFromCheckpoint } from '../rlhf/checkpoint.js';
import { openStore } from '../storage/index.js';
import { joinKey } from '../storage/keys.js';
import type { Plan } from './plan.js';
import { testStepDelay, type StepContext, type StepProgress } from './context.js';
import { cachedStep, readStepOutput } from './steps.js';
import { loadData } from './data.js';
import { backendFor, commitTrainingState, loadLatestTrainingState, loadTrainingState, transformerConfig } from './models.js';
import type { BackendRef } from './models.js';
import { epochBatch } from './batches.js';
import type { SftResult } from './sft.js';

export interface RewardModelResult {
  steps: number;
  finalLoss: number;
  /** Accuracy on the gold-labelled held-out pairs (never flipped). */
  heldOutAccuracy: number;
  heldOutMargin: number;
  heldOutPairs: number;
  /** Accuracy on (a sample of) the noisy training labels. */
  trainAccuracy: number;
  /** Fraction of training labels the task flipped (ε realised). */
  labelNoise: number;
  model: string;
  modelUri: string;
  backend: BackendRef;
  resumedFrom: number;
}

export const rmModelDir = (plan: Plan) => joinKey(plan.steps.rewardModel.dir, 'model');

export async function trainRewardModel(input: { plan: Plan }, ctx: StepContext) {
  const { plan } = input;
  const store = openStore(plan.storeUri);
  return cachedStep(store, plan.runName, plan.steps.rewardModel, ctx.attempt, async (): Promise<RewardModelResult> => {
    const cfg = plan.config.reward_model;
    const backend = await backendFor(plan.config);
    const data = await loadData(store, plan.steps.data.dir);
    const model = new RewardModel(transformerConfig(plan.config, data.tokenizer), new Rng(plan.config.seed).fork('rm.init'));
    if (cfg.init === 'sft') {
      const sft = await readStepOutput<SftResult>(store, plan.steps.sft);
      if (!sft) throw new Error('reward model init "sft" needs the SFT step to have finished');
      // The trunk comes from the SFT policy; the scalar head keeps its fresh init.
      const policy = modelFromCheckpoint(await loadTrainingState(store, sft.result.model), 'policy');
      model.copyFrom(policy);
      policy.dispose();
    }
    const trainer = new RewardTrainer(model, data.tokenizer, {
      schedule: { peakLr: cfg.lr, warmupSteps: cfg.warmup_steps, totalSteps: cfg.steps, decay: cfg.decay === 'none' ? 'constant' : cfg.decay },
      optimizer: { weightDecay: cfg.weight_decay },
      maxGradNorm: cfg.grad_clip,
    });
    const ckptPrefix = joinKey(plan.steps.rewardModel.dir, 'checkpoints');
    const resumed = await loadLatestTrainingState(store, ckptPrefix);
    if (resumed) {
      loadModelWeights(resumed.ckpt, 'reward', model);
      loadOptimizerState(resumed.ckpt, 'reward', trainer.optimizer);
    }
    const start = trainer.stepCount;
    let lastCkpt = resumed?.manifest.uri;
    let loss = NaN;
    try {
      for (let step = start; step < cfg.steps; step++) {
        if (ctx.signal.aborted) throw new Error('reward-model training cancelled');
        const res = await trainer.step(epochBatch(data.preferences, cfg.batch_size, step, plan.config.seed, 'rm'));
        loss = res.loss;
        const done = step + 1;
        if (done % cfg.checkpoint_every === 0 && done < cfg.steps) {
          lastCkpt = (await commitTrainingState(store, ckptPrefix, { step: done, models: { reward: model }, optimizers: { reward: trainer.optimizer } }, plan.steps.rewardModel.hash)).uri;
        }
        ctx.heartbeat({ phase: 'reward_model', step: done, total: cfg.steps, metrics: { loss: res.loss, accuracy: res.accuracy }, checkpoint: lastCkpt } satisfies StepProgress);
        await testStepDelay('reward_model');
      }
      const heldOut = data.heldOut.length ? await evaluatePairs(model, data.tokenizer, data.heldOut) : null;
      const train = await evaluatePairs(model, data.tokenizer, data.preferences.slice(0, 512));
      const final = await commitTrainingState(store, rmModelDir(plan), { step: cfg.steps, models: { reward: model }, tokenizer: data.tokenizer }, plan.steps.rewardModel.hash, 1);
      return {
        steps: cfg.steps,
        finalLoss: loss,
        heldOutAccuracy: heldOut?.accuracy ?? NaN,
        heldOutMargin: heldOut?.meanMargin ?? NaN,
        heldOutPairs: heldOut?.count ?? 0,
        trainAccuracy: train.accuracy,
        labelNoise: data.preferences.length ? data.preferences.filter((p) => p.flipped).length / data.preferences.length : 0,
        model: final.dir,
        modelUri: final.uri,
        backend,
        resumedFrom: start,
      };
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });
}
