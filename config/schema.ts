// The one experiment config schema: validation at the CLI, types for the
// pipeline, `crlhf config` help and the README's reference all come from here.
// YAML keys are snake_case, as researchers write them.
import { z } from 'zod';

const pos = () => z.number().int().positive();
const nonneg = () => z.number().int().nonnegative();
const prob = () => z.number().min(0).max(1);

export const ModelSchema = z
  .strictObject({
    d_model: pos().default(64).describe('width of the transformer (embedding size)'),
    n_heads: pos().default(4).describe('attention heads; must divide d_model'),
    n_layers: pos().default(2).describe('transformer blocks'),
    context_length: pos().default(96).describe('maximum prompt + response tokens'),
    mlp_ratio: pos().default(4).describe('MLP hidden size as a multiple of d_model'),
  })
  .refine((m) => m.d_model % m.n_heads === 0, { message: 'd_model must be divisible by n_heads', path: ['n_heads'] });

export const DataSchema = z.strictObject({
  sft_examples: pos().default(2000).describe('SFT demonstrations (synthetic tasks)'),
  rl_prompts: pos().default(256).describe('prompts used by PPO and offline baseline sampling'),
  eval_prompts: pos().default(64).describe('held-out prompts for evaluation'),
  preference_pairs: pos().default(2000).describe('preference pairs for reward-model training'),
  held_out_pairs: pos().default(200).describe('gold-labelled pairs for reward-model accuracy'),
  label_noise: prob().default(0.2).describe('ε: probability a training preference label is flipped (the noisy-reward-model setting)'),
  files: z
    .strictObject({
      format: z.enum(['hh-rlhf', 'tldr']).describe('format of the files below'),
      preferences: z.string().describe('preference JSONL (file:// or s3:// URI, or a path)'),
      sft: z.string().optional().describe('SFT JSONL (TL;DR format); hh-rlhf uses the chosen responses'),
      eval_fraction: prob().default(0.1).describe('fraction of prompts held out for evaluation'),
    })
    .optional()
    .describe('real data instead of a synthetic task (no gold reward: no oracle judge)'),
});

const OptimSchema = {
  lr: z.number().positive().describe('peak learning rate (AdamW)'),
  warmup_steps: nonneg().default(20).describe('linear warm-up steps'),
  decay: z.enum(['cosine', 'linear', 'none']).default('cosine').describe('decay after warm-up'),
  weight_decay: z.number().min(0).default(0.01).describe('AdamW decoupled weight decay'),
  grad_clip: z.number().positive().default(1).describe('global gradient-norm clip'),
  batch_size: pos().default(32).describe('sequences (or pairs) per step'),
  checkpoint_every: pos().default(100).describe('steps between checkpoints (resume points)'),
};

export const SftSchema = z.strictObject({
  steps: pos().default(300).describe('training steps'),
  ...OptimSchema,
  lr: OptimSchema.lr.default(3e-3),
});

export const RewardModelSchema = z.strictObject({
  steps: pos().default(300).describe('training steps'),
  ...OptimSchema,
  lr: OptimSchema.lr.default(1e-3),
  init: z.enum(['sft', 'scratch']).default('sft').describe('start from the SFT weights (standard) or from scratch'),
});

export const SamplingSchema = z.strictObject({
  temperature: z.number().positive().default(1).describe('sampling temperature'),
  top_k: nonneg().default(0).describe('keep the k most likely tokens (0 = off)'),
  top_p: z.number().gt(0).max(1).default(1).describe('nucleus sampling mass (1 = off)'),
  max_new_tokens: pos().default(24).describe('response length limit in tokens'),
});

export const BaselineSchema = z.strictObject({
  k: pos().default(4).describe('offline baseline responses per RL prompt, sampled once from the SFT policy'),
  shards: pos().default(2).describe('parallel sampling activities'),
  ...SamplingSchema.shape,
});

export const AggregationSchema = z
  .union([
    z.enum(['mean', 'median', 'min', 'max']),
    z.strictObject({ trimmed_mean: z.number().min(0).lt(0.5).describe('fraction cut from each end') }),
    z.strictObject({ quantile: prob().describe('quantile with linear interpolation') }),
  ])
  .describe('A in r − A({r(x, y_j)}): mean (default), median, min, max, {trimmed_mean: f}, {quantile: q}');

export const RewardSchema = z.strictObject({
  contrastive: z
    .strictObject({
      k: pos().optional().describe('baselines used per prompt (first k of those sampled; default: all)'),
      aggregation: AggregationSchema.default('mean'),
    })
    .prefault({})
    .describe('the contrastive reward r(x, y) − A({r(x, y_j)}_{j≤k}) of arms with reward_mode contrastive'),
  clip: z.number().positive().optional().describe('clip the (contrastive) score to ±clip before the KL penalty'),
  normalize: z.enum(['none', 'batch', 'running']).default('none').describe('normalise scores after the baseline subtraction'),
});

export const KlSchema = z.strictObject({
  kind: z.enum(['fixed', 'adaptive']).default('fixed').describe('fixed β or the adaptive controller of Ziegler et al. 2019'),
  coef: z.number().min(0).default(0.05).describe('β, the per-token KL penalty coefficient (initial value when adaptive)'),
  target: z.number().positive().optional().describe('adaptive: target KL per sequence'),
  horizon: pos().default(10000).describe('adaptive: horizon in samples'),
  estimator: z.enum(['k1', 'k2', 'k3']).default('k1').describe('per-token KL estimator in the reward'),
});

export const PpoSchema = z.strictObject({
  iterations: pos().default(40).describe('PPO iterations (rollout + update)'),
  batch_prompts: pos().default(32).describe('prompts per rollout batch'),
  epochs: pos().default(4).describe('PPO epochs over each rollout batch'),
  minibatches: pos().default(4).describe('minibatches per epoch'),
  lr: z.number().positive().default(1e-4).describe('policy learning rate'),
  value_lr: z.number().positive().default(5e-4).describe('value-model learning rate'),
  clip_range: z.number().positive().default(0.2).describe('policy ratio clip ε'),
  value_clip: z.number().positive().default(0.2).describe('value clip'),
  gamma: prob().default(1).describe('GAE discount γ'),
  lambda: prob().default(0.95).describe('GAE λ'),
  whiten_advantages: z.boolean().default(true).describe('normalise advantages over the batch'),
  target_kl_stop: z.number().positive().optional().describe('stop the epochs of an iteration early when approx KL exceeds this'),
  grad_clip: z.number().positive().default(1).describe('global gradient-norm clip'),
  critic_init: z
    .enum(['reward_model', 'sft'])
    .default('sft')
    .describe('critic starts from the SFT trunk with a fresh head (default: fair to both arms), or from the reward model (trunk and head, as OpenRLHF and DeepSpeed-Chat), whose initial values are in raw-score units'),
  kl: KlSchema.prefault({}).describe('the per-token KL penalty β·(log π − log π_ref) in the reward'),
  checkpoint_every: pos().default(5).describe('iterations between checkpoints'),
  block_iterations: pos().default(10).describe('iterations per activity (one block keeps models in memory)'),
  ...SamplingSchema.shape,
});

export const ArmSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and "-"').describe('arm name, e.g. ppo, ppo-cr'),
  reward_mode: z.enum(['raw', 'contrastive']).describe('raw reward-model score, or the contrastive reward r − A(baselines)'),
});

export const LlmJudgeSchema = z.strictObject({
  base_url: z.string().url().describe('OpenAI-compatible endpoint, e.g. https://api.openai.com/v1'),
  model: z.string().min(1).describe('judge model name'),
  api_key_env: z.string().default('OPENAI_API_KEY').describe("name of the worker's environment variable holding the key (never the key itself)"),
  concurrency: pos().default(4).describe('judge calls in flight at once'),
  timeout_ms: pos().default(60000).describe('timeout of one HTTP attempt'),
  max_retries: nonneg().default(5).describe('retries after 429, 5xx, timeouts (Retry-After honoured)'),
  max_tokens: pos().default(512).describe('max_tokens of each judge call'),
  temperature: z.number().min(0).max(2).default(0).describe('judge sampling temperature (0: reproducible verdicts)'),
  backoff_base_ms: z.number().nonnegative().optional().describe('first retry delay in ms (doubles each retry)'),
  pricing: z
    .strictObject({
      input_per_mtok: z.number().nonnegative().describe('USD per million prompt tokens'),
      output_per_mtok: z.number().nonnegative().describe('USD per million completion tokens'),
    })
    .optional()
    .describe('USD per million prompt/completion tokens, for the cost counter'),
});

export const EvaluationSchema = z.strictObject({
  judges: z.array(z.enum(['oracle', 'llm', 'human'])).default(['oracle']).describe('which judges compare the arms'),
  compare: z
    .array(z.tuple([z.string(), z.string()]))
    .optional()
    .describe('pairs [candidate, baseline] to judge; default: every arm vs sft, and contrastive arms vs raw arms'),
  tie_tolerance: z.number().min(0).default(0.05).describe('oracle: gold rewards closer than this are a tie'),
  bootstrap: pos().default(2000).describe('bootstrap resamples for confidence intervals'),
  llm: LlmJudgeSchema.optional().describe('the LLM judge (OpenAI-compatible Chat Completions endpoint)'),
  human: z
    .strictObject({
      quota: nonneg().default(0).describe('votes to wait for before the report (0: do not wait)'),
      timeout: z.string().default('1h').describe('how long the report waits for the quota'),
      annotators: z.array(z.string().regex(/^[A-Za-z0-9._-]+$/)).min(1).default(['annotator']).describe('annotator names (each gets their own link)'),
      pairs: pos().default(20).describe('pairs shown to humans'),
    })
    .optional()
    .describe('human judging through `crlhf annotate <run>`'),
  ...SamplingSchema.shape,
  temperature: z.number().positive().default(0.7).describe('sampling temperature for evaluation responses'),
});

export const ExperimentSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, ".", "_", "-"; at most 100 characters')
      .optional()
      .describe('run name (workflow ID); default: the config file name'),
    seed: nonneg().default(1).describe('every random draw is seeded from this'),
    task: z.string().default('sentiment').describe('synthetic task (sentiment, sort) or "files" with data.files'),
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto').describe('TensorFlow.js backend for compute'),
    store: z.string().optional().describe('artifact store URI (file:///dir or s3://bucket/prefix); default: CRLHF_STORE or the embedded file store'),
    data: DataSchema.prefault({}).describe('prompts, demonstrations and preference pairs'),
    model: ModelSchema.prefault({}).describe('the decoder-only transformer shared by policy, reference, critic and reward model'),
    sft: SftSchema.prefault({}).describe('supervised fine-tuning on the demonstrations (response tokens only)'),
    reward_model: RewardModelSchema.prefault({}).describe('Bradley-Terry reward model on the (noisy) preference pairs'),
    baselines: BaselineSchema.prefault({}).describe('offline baseline responses, sampled once from the SFT policy before PPO'),
    reward: RewardSchema.prefault({}).describe('how the reward-model score becomes the PPO reward'),
    ppo: PpoSchema.prefault({}).describe('PPO as in the standard RLHF recipe (OpenRLHF/TRL defaults where the paper is silent)'),
    arms: z
      .array(ArmSchema)
      .min(1)
      .default([
        { name: 'ppo', reward_mode: 'raw' },
        { name: 'ppo-cr', reward_mode: 'contrastive' },
      ])
      .describe('PPO arms, identical except for their reward'),
    evaluation: EvaluationSchema.prefault({}).describe('responses of every policy on held-out prompts, judged pairwise'),
  })
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    for (const [i, a] of c.arms.entries()) {
      if (a.name === 'sft') ctx.addIssue({ code: 'custom', path: ['arms', i, 'name'], message: '"sft" is reserved for the SFT policy' });
      if (names.has(a.name)) ctx.addIssue({ code: 'custom', path: ['arms', i, 'name'], message: `duplicate arm name "${a.name}"` });
      names.add(a.name);
    }
    const known = new Set([...names, 'sft']);
    for (const [i, pair] of (c.evaluation.compare ?? []).entries()) {
      for (const [j, arm] of pair.entries()) {
        if (!known.has(arm)) ctx.addIssue({ code: 'custom', path: ['evaluation', 'compare', i, j], message: `unknown arm "${arm}"; known: ${[...known].join(', ')}` });
      }
    }
    if (c.ppo.kl.kind === 'adaptive' && c.ppo.kl.target === undefined) {
      ctx.addIssue({ code: 'custom', path: ['ppo', 'kl', 'target'], message: 'adaptive KL control needs a target' });
    }
    if (c.evaluation.judges.includes('llm') && !c.evaluation.llm) {
      ctx.addIssue({ code: 'custom', path: ['evaluation', 'llm'], message: 'the llm judge needs evaluation.llm (base_url, model)' });
    }
    if (c.task === 'files' && !c.data.files) {
      ctx.addIssue({ code: 'custom', path: ['data', 'files'], message: 'task "files" needs data.files' });
    }
    if (c.ppo.batch_prompts % c.ppo.minibatches !== 0) {
      ctx.addIssue({ code: 'custom', path: ['ppo', 'minibatches'], message: `must divide ppo.batch_prompts (${c.ppo.batch_prompts})` });
    }
    const k = c.reward.contrastive.k;
    if (k !== undefined && k > c.baselines.k) {
      ctx.addIssue({ code: 'custom', path: ['reward', 'contrastive', 'k'], message: `cannot use ${k} baselines: baselines.k samples only ${c.baselines.k} per prompt` });
    }
  });

export type ExperimentConfig = z.infer<typeof ExperimentSchema>;
export type ArmConfig = z.infer<typeof ArmSchema>;
export type Aggregation = z.infer<typeof AggregationSchema>;
