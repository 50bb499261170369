// A realistic ReportData for tests and for looking at the report without
// running an experiment: a sentiment run with sft, ppo (raw reward) and
// ppo-cr (contrastive reward), 40 PPO iterations, three difficulty buckets,
// oracle and LLM judges, eight sample prompts. The numbers come from a small
// seeded simulation pushed through the real metric code (judges/win-rate,
// rlhf/stats), so counts, rates and intervals agree with each other the way
// they do in a real report.
import { winRateStats, winRateByBucket, type WinRateStats } from '../judges/win-rate.js';
import type { Verdict } from '../judges/types.js';
import { Rng } from '../rlhf/rng.js';
import { bootstrapMeanCI, mean, std, variance } from '../rlhf/stats.js';
import { REPORT_SCHEMA, type Comparison, type DifficultyComparison, type Estimate, type GoldByDifficulty, type ReportData, type Sample, type TrainingPoint } from './types.js';

function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function gaussian(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

const round = (x: number, digits = 4) => Number(x.toFixed(digits));

const CONFIG_YAML = `name: sentiment-cr-demo
seed: 7
task: sentiment
backend: auto
data:
  sft_examples: 2000
  rl_prompts: 256
  eval_prompts: 96
  preference_pairs: 2000
  held_out_pairs: 200
  label_noise: 0.2
model: { d_model: 64, n_heads: 4, n_layers: 2, context_length: 96, mlp_ratio: 4 }
baselines: { k: 4, shards: 2, temperature: 1, max_new_tokens: 24 }
reward:
  contrastive: { aggregation: mean }
  normalize: none
ppo:
  iterations: 40
  batch_prompts: 32
  epochs: 4
  minibatches: 4
  lr: 0.0001
  clip_range: 0.2
  kl: { kind: fixed, coef: 0.05, estimator: k1 }
arms:
  - { name: ppo, reward_mode: raw }
  - { name: ppo-cr, reward_mode: contrastive }
evaluation:
  judges: [oracle, llm]
  tie_tolerance: 0.05
  bootstrap: 2000
  llm: { base_url: "https://api.openai.com/v1", model: gpt-4o-mini }
`;

const SUBJECTS = ['plot', 'acting', 'music', 'ending', 'story', 'cast', 'pacing', 'dialogue', 'soundtrack', 'scenery', 'score', 'script'];
const NEG = ['bad', 'awful', 'terrible', 'boring', 'dull', 'poor', 'weak', 'annoying'];
const NEU = ['long', 'slow', 'quiet', 'simple', 'plain', 'familiar'];
const POS = ['good', 'great', 'lovely', 'superb', 'wonderful', 'brilliant', 'amazing', 'charming'];

// AFINN-165 scores of the words above, so a sample's gold reward matches its text.
const AFINN: Record<string, number> = {
  bad: -3, awful: -3, terrible: -3, boring: -3, dull: -2, poor: -2, weak: -2, annoying: -2,
  good: 3, great: 3, lovely: 3, superb: 5, wonderful: 4, brilliant: 4, amazing: 4, charming: 3,
};
const afinn = (text: string) => text.split(' ').reduce((s, w) => s + (AFINN[w] ?? 0), 0);

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

interface SimPrompt {
  id: string;
  text: string;
  difficulty: number;
  bucket: string;
  gold: Record<'sft' | 'ppo' | 'ppo-cr', number>;
  length: Record<'sft' | 'ppo' | 'ppo-cr', number>;
  offset: number;
}

const BUCKETS = ['easy', 'medium', 'hard'] as const;

function simulatePrompts(r: () => number, n: number): SimPrompt[] {
  const raw = Array.from({ length: n }, (_, i) => {
    const polarity = r();
    const adj = polarity < 0.4 ? pick(r, NEG) : polarity < 0.7 ? pick(r, NEU) : pick(r, POS);
    const subject = pick(r, SUBJECTS);
    // SFT leans towards the opening's sentiment: negative openings are hard.
    const sftGold = (polarity < 0.4 ? -1.6 : polarity < 0.7 ? 0.2 : 1.8) + 0.8 * gaussian(r);
    const difficulty = -sftGold;
    // PPO helps everywhere; the contrastive arm helps most where the raw
    // reward model's per-prompt offset misleads the critic (hard prompts).
    const offset = 0.15 + 0.85 * gaussian(r);
    const ppoGain = 1.1 + 0.25 * difficulty - 0.35 * Math.abs(offset) + 0.9 * gaussian(r);
    const crGain = 1.3 + 0.4 * difficulty + 0.9 * gaussian(r);
    const snap = (x: number) => Math.round(x); // AFINN sums are integers: ties happen
    const len = 20 + 3 * gaussian(r);
    return {
      id: `eval-${String(i).padStart(3, '0')}`,
      text: `review: the ${subject} was ${adj} and`,
      difficulty,
      gold: { sft: snap(sftGold), ppo: snap(sftGold + ppoGain), 'ppo-cr': snap(sftGold + crGain) },
      length: { sft: Math.round(len), ppo: Math.round(len + 2.5 + 2 * gaussian(r)), 'ppo-cr': Math.round(len + 1.8 + 2 * gaussian(r)) },
      offset,
    };
  });
  // Terciles of difficulty.
  const sorted = raw.map((p) => p.difficulty).sort((a, b) => a - b);
  const cut1 = sorted[Math.floor(n / 3)] ?? 0;
  const cut2 = sorted[Math.floor((2 * n) / 3)] ?? 0;
  return raw.map((p) => ({ ...p, bucket: p.difficulty < cut1 ? 'easy' : p.difficulty < cut2 ? 'medium' : 'hard' }));
}

function oracleVerdict(a: number, b: number, tol = 0.05): Verdict {
  return Math.abs(a - b) <= tol ? 'tie' : a > b ? 'A' : 'B';
}

/** An LLM judge that mostly follows the gold reward, likes longer answers and sometimes fails to answer. */
function llmVerdict(r: () => number, gA: number, gB: number, lenA: number, lenB: number): Verdict {
  const u = r();
  if (u < 0.015) return 'error';
  const margin = gA - gB + 0.08 * (lenA - lenB) + 1.1 * gaussian(r);
  return Math.abs(margin) < 0.35 ? 'tie' : margin > 0 ? 'A' : 'B';
}

const est = (value: number, lo: number, hi: number): Estimate => ({ value: round(value), lo: round(lo), hi: round(hi) });

function fromStats(s: WinRateStats): Pick<Comparison, 'wins' | 'ties' | 'losses' | 'errors' | 'n' | 'winRate' | 'lossRate' | 'adjustedWinRate'> {
  const e = (v: number | null, ci: [number, number] | null) => (v === null || ci === null ? null : est(v, ci[0], ci[1]));
  return {
    wins: s.wins,
    ties: s.ties,
    losses: s.losses,
    errors: s.errors,
    n: s.n,
    winRate: e(s.winRate, s.ci.winRate),
    lossRate: e(s.lossRate, s.ci.lossRate),
    adjustedWinRate: e(s.adjustedWinRate, s.ci.adjustedWinRate),
  };
}

function trainingCurves(r: () => number, iterations: number): TrainingPoint[] {
  const out: TrainingPoint[] = [];
  for (const arm of ['ppo', 'ppo-cr'] as const) {
    const cr = arm === 'ppo-cr';
    for (let it = 1; it <= iterations; it++) {
      const t = it / iterations;
      const progress = 1 - Math.exp(-3 * t);
      const noise = () => gaussian(r);
      const scoreMean = 0.1 + (cr ? 2.0 : 1.6) * progress + 0.08 * noise();
      // Raw-reward arm: per-prompt offsets stay in the reward, so its spread stays high.
      const scoreStd = (cr ? 1.55 : 1.6) - (cr ? 0.35 : 0.15) * progress + 0.05 * noise();
      const baselineLevel = 0.1;
      const contrastiveMean = scoreMean - baselineLevel - 0.02 + 0.05 * noise();
      const contrastiveStd = scoreStd * (cr ? 0.62 : 0.7) + 0.04 * noise();
      out.push({
        arm,
        iteration: it,
        scoreMean: round(scoreMean),
        scoreStd: round(scoreStd),
        contrastiveMean: round(contrastiveMean),
        contrastiveStd: round(contrastiveStd),
        kl: round(Math.max(0, (cr ? 2.4 : 3.1) * progress * t ** 0.3 + 0.1 * noise())),
        klCoef: 0.05,
        entropy: round(2.2 - (cr ? 0.55 : 0.7) * progress + 0.03 * noise()),
        valueLoss: round(Math.max(0.02, (cr ? 0.45 : 0.9) * Math.exp(-2 * t) + (cr ? 0.12 : 0.3) + 0.04 * noise())),
        policyLoss: round(-0.02 + 0.01 * noise()),
        clipFrac: round(Math.max(0, 0.12 - 0.04 * t + 0.015 * noise())),
        approxKl: round(Math.max(0, 0.012 - 0.004 * t + 0.002 * noise()), 5),
        explainedVariance: round(Math.min(0.95, (cr ? 0.75 : 0.45) * progress + 0.04 * noise())),
        responseLength: round(19 + (cr ? 1.8 : 2.6) * progress + 0.3 * noise(), 2),
        goldMean: round(0.05 + (cr ? 1.55 : 1.2) * progress + 0.06 * noise()),
        timings: { rolloutMs: Math.round(820 + 60 * noise()), scoringMs: Math.round(140 + 10 * noise()), updateMs: Math.round(2300 + 120 * noise()) },
      });
    }
  }
  return out;
}

const SAMPLE_TEXTS: Record<'sft' | 'ppo' | 'ppo-cr', (r: () => number) => string> = {
  sft: (r) => `the ${pick(r, SUBJECTS)} was ${pick(r, [...NEG, ...NEU])}`,
  ppo: (r) => `the ${pick(r, SUBJECTS)} was ${pick(r, NEU)} but ${pick(r, POS)}`,
  'ppo-cr': (r) => `but the ${pick(r, SUBJECTS)} was ${pick(r, POS)} and ${pick(r, POS)}`,
};

export function exampleReportData(): ReportData {
  const r = rng(7);
  const boot = { rng: rng(2024), iterations: 1000 };
  const prompts = simulatePrompts(r, 96);
  const arms = ['sft', 'ppo', 'ppo-cr'] as const;

  const pairs: [candidate: 'ppo' | 'ppo-cr', baseline: 'sft' | 'ppo'][] = [
    ['ppo-cr', 'ppo'],
    ['ppo-cr', 'sft'],
    ['ppo', 'sft'],
  ];
  const judges = ['oracle', 'llm:gpt-4o-mini@pair-v1'] as const;
  const comparisons: Comparison[] = [];
  const byDifficulty: DifficultyComparison[] = [];
  for (const judge of judges) {
    for (const [cand, base] of pairs) {
      const rows = prompts.map((p) => ({
        bucket: p.bucket,
        lenA: p.length[cand],
        lenB: p.length[base],
        verdict: judge === 'oracle' ? oracleVerdict(p.gold[cand], p.gold[base]) : llmVerdict(r, p.gold[cand], p.gold[base], p.length[cand], p.length[base]),
      }));
      const stats = winRateStats(rows.map((x) => x.verdict), boot);
      // The LLM judge rewards length, so its length-controlled rate sits below the raw one.
      const lc = judge === 'oracle' ? undefined : round((stats.adjustedWinRate ?? 0.5) - 0.04 * Math.sign(mean(rows.map((x) => x.lenA - x.lenB))));
      comparisons.push({ judge, candidate: cand, baseline: base, ...fromStats(stats), ...(lc === undefined ? {} : { lengthControlledWinRate: lc }) });
      for (const b of winRateByBucket(rows, (x) => x.bucket, boot)) {
        const s = fromStats(b.stats);
        byDifficulty.push({ judge, candidate: cand, baseline: base, bucket: b.bucket, wins: s.wins, ties: s.ties, losses: s.losses, n: s.n, adjustedWinRate: s.adjustedWinRate });
      }
    }
  }

  const goldByDifficulty: GoldByDifficulty[] = [];
  for (const arm of ['ppo', 'ppo-cr'] as const) {
    for (const bucket of BUCKETS) {
      const ps = prompts.filter((p) => p.bucket === bucket);
      const gains = ps.map((p) => p.gold[arm] - p.gold.sft);
      const ci = bootstrapMeanCI(gains, boot.rng, boot.iterations);
      goldByDifficulty.push({ arm, bucket, n: ps.length, goldMean: round(mean(ps.map((p) => p.gold[arm]))), gainOverSft: est(ci.mean, ci.lo, ci.hi) });
    }
  }

  const summary = (arm: (typeof arms)[number]) => {
    const golds = prompts.map((p) => p.gold[arm]);
    const ci = bootstrapMeanCI(golds, boot.rng, boot.iterations);
    const rmShift = { sft: 0.12, ppo: 1.95, 'ppo-cr': 2.05 }[arm];
    return {
      goldMean: est(ci.mean, ci.lo, ci.hi),
      rmScoreMean: round(mean(golds) * 0.8 + rmShift * 0.4),
      klToRef: { sft: 0, ppo: 3.41, 'ppo-cr': 2.63 }[arm],
      responseLength: round(mean(prompts.map((p) => p.length[arm])), 2),
      distinct1: { sft: 0.412, ppo: 0.268, 'ppo-cr': 0.331 }[arm],
      distinct2: { sft: 0.705, ppo: 0.492, 'ppo-cr': 0.583 }[arm],
      n: prompts.length,
    };
  };

  const offsets = prompts.map((p) => p.offset);
  const sampleRng = rng(99);
  const samples: Sample[] = prompts.slice(0, 8).map((p) => ({
    promptId: p.id,
    prompt: p.text,
    difficulty: round(p.difficulty, 3),
    bucket: p.bucket,
    baselineMean: round(-p.difficulty * 0.8 + p.offset, 3),
    responses: arms.map((arm) => {
      const text = SAMPLE_TEXTS[arm](sampleRng);
      const gold = afinn(text);
      return { arm, text, rmScore: round(0.8 * gold + p.offset + 0.4 * gaussian(sampleRng), 3), gold };
    }),
  }));

  const bucketRange = (b: string) => {
    const ds = prompts.filter((p) => p.bucket === b).map((p) => p.difficulty);
    return { name: b, lo: round(Math.min(...ds), 3), hi: round(Math.max(...ds), 3), prompts: ds.length };
  };

  const llmComparisons = comparisons.filter((c) => c.judge.startsWith('llm:'));
  const llmPairs = llmComparisons.reduce((s, c) => s + c.n + c.errors, 0);
  const unparseable = llmComparisons.reduce((s, c) => s + c.errors, 0);

  return {
    schema: REPORT_SCHEMA,
    generatedAt: '2025-05-14T10:42:17.000Z',
    run: {
      name: 'sentiment-cr-demo',
      workflowId: 'experiment-sentiment-cr-demo',
      startedAt: '2025-05-14T09:58:03.000Z',
      finishedAt: '2025-05-14T10:41:55.000Z',
      task: 'sentiment',
      hasGold: true,
      seed: 7,
      seeds: { sft: 1148816051, rewardModel: 2094718125, baselines: 771035934, 'ppo:ppo': 3920451, 'ppo:ppo-cr': 3920451, bootstrap: 2024 },
      backend: { name: 'tensorflow', threads: 16, detail: 'tfjs-node 4.22.0, libtensorflow 2.9.1 (CPU, AVX2)' },
      versions: { crlhf: '0.1.0', node: 'v20.20.2', '@tensorflow/tfjs': '4.22.0', '@temporalio/worker': '1.24.0', 'judge prompt': 'pair-v1' },
      configYaml: CONFIG_YAML,
      storeUri: 's3://crlhf-runs/sentiment-cr-demo',
      artifactUris: {
        sftCheckpoint: 's3://crlhf-runs/sentiment-cr-demo/sft/ckpt-300/manifest.json',
        rewardModel: 's3://crlhf-runs/sentiment-cr-demo/rm/ckpt-300/manifest.json',
        baselines: 's3://crlhf-runs/sentiment-cr-demo/baselines/k4.jsonl',
        'policy:ppo': 's3://crlhf-runs/sentiment-cr-demo/ppo/ppo/ckpt-40/manifest.json',
        'policy:ppo-cr': 's3://crlhf-runs/sentiment-cr-demo/ppo/ppo-cr/ckpt-40/manifest.json',
        judgments: 's3://crlhf-runs/sentiment-cr-demo/eval/judgments.jsonl',
      },
    },
    ci: { level: 0.95, method: 'percentile bootstrap over prompts', iterations: boot.iterations },
    arms: [
      { name: 'sft', rewardMode: 'sft', summary: summary('sft') },
      { name: 'ppo', rewardMode: 'raw', summary: summary('ppo') },
      { name: 'ppo-cr', rewardMode: 'contrastive', summary: summary('ppo-cr') },
    ],
    comparisons,
    difficulty: {
      measure: '−(mean gold reward of 4 SFT samples) per prompt; higher is harder; buckets are terciles',
      buckets: BUCKETS.map(bucketRange),
    },
    byDifficulty,
    goldByDifficulty,
    training: trainingCurves(r, 40),
    rewardModel: {
      heldOutAccuracy: est(0.742, 0.68, 0.8),
      heldOutPairs: 200,
      trainAccuracy: 0.781,
      labelNoise: 0.2,
      offsetSpread: {
        variance: round(variance(offsets)),
        std: round(std(offsets)),
        meanOffset: round(mean(offsets)),
        perPrompt: prompts.map((p) => ({ promptId: p.id, offset: round(p.offset), difficulty: round(p.difficulty), bucket: p.bucket })),
      },
    },
    baselines: { k: 4, aggregation: 'mean', meanStd: 0.913, spreadOfMeans: 1.72, prompts: 256 },
    samples,
    judges: {
      llm: {
        model: 'gpt-4o-mini',
        baseUrl: 'https://api.openai.com/v1',
        promptVersion: 'pair-v1',
        promptSha256: '3f1c9a0e5b7d2c4a8e6f1b3d5c7a9e0f2b4d6c8a1e3f5b7d9c0a2e4f6b8d1c3a',
        usage: {
          requests: 2 * llmPairs + 9,
          retries: 9,
          promptTokens: 2 * llmPairs * 412,
          completionTokens: 2 * llmPairs * 187,
          costUsd: round((2 * llmPairs * 412 * 0.15 + 2 * llmPairs * 187 * 0.6) / 1e6, 5),
          cacheHits: 64,
          cacheMisses: 2 * llmPairs - 64,
          unparseable,
        },
        positionConsistency: 0.83,
      },
    },
  };
}
