// Validation of report data on load: report.json is written by another
// process (possibly another version of crlhf), so the renderer checks it and
// names the field when something is off, instead of drawing a broken plot.
// Objects are strict so that a misspelt field fails here rather than being
// silently left out of the report.
import { z } from 'zod';
import { DataError } from '../common/errors.js';
import { REPORT_SCHEMA, type ReportData } from './types.js';

const num = () => z.number().finite();
const count = () => z.number().int().nonnegative();
const prob = () => z.number().min(0).max(1);

const EstimateSchema = z
  .strictObject({ value: num(), lo: num(), hi: num() })
  .refine((e) => e.lo <= e.value + 1e-9 && e.value <= e.hi + 1e-9, { message: 'expected lo ≤ value ≤ hi' });

const RunSchema = z.strictObject({
  name: z.string().min(1),
  workflowId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  task: z.string().min(1),
  hasGold: z.boolean(),
  seed: count(),
  seeds: z.record(z.string(), z.number().int()).optional(),
  backend: z.strictObject({ name: z.string(), threads: count().nullable(), detail: z.string() }),
  versions: z.record(z.string(), z.string()),
  configYaml: z.string(),
  storeUri: z.string(),
  artifactUris: z.record(z.string(), z.string()),
});

const ArmSchema = z.strictObject({
  name: z.string().min(1),
  rewardMode: z.enum(['sft', 'raw', 'contrastive']),
  summary: z.strictObject({
    goldMean: EstimateSchema.optional(),
    rmScoreMean: num(),
    klToRef: num(),
    responseLength: num(),
    distinct1: prob(),
    distinct2: prob(),
    n: count(),
  }),
});

const who = { judge: z.string().min(1), candidate: z.string().min(1), baseline: z.string().min(1) };

const ComparisonSchema = z
  .strictObject({
    ...who,
    wins: count(),
    ties: count(),
    losses: count(),
    errors: count(),
    n: count(),
    winRate: EstimateSchema.nullable(),
    lossRate: EstimateSchema.nullable(),
    adjustedWinRate: EstimateSchema.nullable(),
    lengthControlledWinRate: prob().nullable().optional(),
  })
  .refine((c) => c.n === c.wins + c.ties + c.losses, { message: 'n must equal wins + ties + losses', path: ['n'] });

const DifficultySchema = z.strictObject({
  measure: z.string(),
  buckets: z.array(z.strictObject({ name: z.string().min(1), lo: num(), hi: num(), prompts: count() })).min(1),
});

const DifficultyComparisonSchema = z.strictObject({
  ...who,
  bucket: z.string(),
  wins: count(),
  ties: count(),
  losses: count(),
  n: count(),
  adjustedWinRate: EstimateSchema.nullable(),
});

const GoldByDifficultySchema = z.strictObject({
  arm: z.string(),
  bucket: z.string(),
  n: count(),
  goldMean: num(),
  gainOverSft: EstimateSchema,
});

const TrainingPointSchema = z.strictObject({
  arm: z.string(),
  iteration: count(),
  scoreMean: num(),
  scoreStd: num(),
  contrastiveMean: num().optional(),
  contrastiveStd: num().optional(),
  kl: num(),
  klCoef: num(),
  entropy: num(),
  valueLoss: num(),
  policyLoss: num(),
  clipFrac: num(),
  approxKl: num(),
  explainedVariance: num(),
  responseLength: num(),
  goldMean: num().optional(),
  timings: z.strictObject({ rolloutMs: num(), scoringMs: num(), updateMs: num() }).optional(),
});

const RewardModelSchema = z.strictObject({
  heldOutAccuracy: EstimateSchema,
  heldOutPairs: count(),
  trainAccuracy: prob().optional(),
  labelNoise: prob(),
  offsetSpread: z
    .strictObject({
      variance: num(),
      std: num(),
      meanOffset: num(),
      perPrompt: z.array(z.strictObject({ promptId: z.string(), offset: num(), difficulty: num(), bucket: z.string().optional() })),
    })
    .nullable()
    .optional(),
});

const BaselinesSchema = z.strictObject({
  k: count(),
  aggregation: z.string(),
  meanStd: num(),
  spreadOfMeans: num().optional(),
  prompts: count().optional(),
});

const SampleSchema = z.strictObject({
  promptId: z.string(),
  prompt: z.string(),
  difficulty: num(),
  bucket: z.string(),
  baselineMean: num(),
  responses: z.array(z.strictObject({ arm: z.string(), text: z.string(), rmScore: num(), gold: num().optional() })),
});

const KappaSchema = z.strictObject({
  kappa: z.number().min(-1).max(1).nullable(),
  n: count(),
  agreement: prob().nullable().optional(),
  method: z.enum(['cohen', 'fleiss']),
});

const JudgesSchema = z.strictObject({
  llm: z
    .strictObject({
      model: z.string(),
      baseUrl: z.string().optional(),
      promptVersion: z.string(),
      promptSha256: z.string(),
      usage: z.strictObject({
        requests: count(),
        retries: count(),
        promptTokens: count(),
        completionTokens: count(),
        costUsd: z.number().nonnegative().nullable(),
        cacheHits: count(),
        cacheMisses: count(),
        unparseable: count(),
      }),
      positionConsistency: prob().optional(),
    })
    .optional(),
  human: z
    .strictObject({
      votes: count(),
      annotators: z.array(z.string()),
      agreement: KappaSchema.optional(),
      humanVsLlm: KappaSchema.optional(),
    })
    .optional(),
});

export const ReportDataSchema = z
  .strictObject({
    schema: z.literal(REPORT_SCHEMA),
    generatedAt: z.string(),
    run: RunSchema,
    ci: z.strictObject({ level: z.number().gt(0).lt(1), method: z.string(), iterations: count() }),
    arms: z.array(ArmSchema).min(1),
    headline: z.strictObject(who).optional(),
    comparisons: z.array(ComparisonSchema),
    difficulty: DifficultySchema,
    byDifficulty: z.array(DifficultyComparisonSchema),
    goldByDifficulty: z.array(GoldByDifficultySchema),
    training: z.array(TrainingPointSchema),
    rewardModel: RewardModelSchema,
    baselines: BaselinesSchema,
    samples: z.array(SampleSchema),
    judges: JudgesSchema,
  })
  .superRefine((d, ctx) => {
    // Cross-references: a row naming an arm or bucket the report does not
    // know would silently vanish from a plot; say which row instead.
    const arms = new Set<string>();
    d.arms.forEach((a, i) => {
      if (arms.has(a.name)) ctx.addIssue({ code: 'custom', path: ['arms', i, 'name'], message: `duplicate arm "${a.name}"` });
      arms.add(a.name);
    });
    const buckets = new Set(d.difficulty.buckets.map((b) => b.name));
    const arm = (path: (string | number)[], name: string) => {
      if (!arms.has(name)) ctx.addIssue({ code: 'custom', path, message: `unknown arm "${name}"; arms: ${[...arms].join(', ')}` });
    };
    const bucket = (path: (string | number)[], name: string) => {
      if (!buckets.has(name)) ctx.addIssue({ code: 'custom', path, message: `unknown bucket "${name}"; buckets: ${[...buckets].join(', ')}` });
    };
    d.comparisons.forEach((c, i) => {
      arm(['comparisons', i, 'candidate'], c.candidate);
      arm(['comparisons', i, 'baseline'], c.baseline);
    });
    d.byDifficulty.forEach((c, i) => {
      arm(['byDifficulty', i, 'candidate'], c.candidate);
      arm(['byDifficulty', i, 'baseline'], c.baseline);
      bucket(['byDifficulty', i, 'bucket'], c.bucket);
    });
    d.goldByDifficulty.forEach((g, i) => {
      arm(['goldByDifficulty', i, 'arm'], g.arm);
      bucket(['goldByDifficulty', i, 'bucket'], g.bucket);
    });
    d.training.forEach((t, i) => arm(['training', i, 'arm'], t.arm));
    d.samples.forEach((s, i) => {
      bucket(['samples', i, 'bucket'], s.bucket);
      s.responses.forEach((r, j) => arm(['samples', i, 'responses', j, 'arm'], r.arm));
    });
    if (d.headline) {
      const h = d.headline;
      if (!d.comparisons.some((c) => c.judge === h.judge && c.candidate === h.candidate && c.baseline === h.baseline)) {
        ctx.addIssue({ code: 'custom', path: ['headline'], message: `no comparison ${h.candidate} vs ${h.baseline} by ${h.judge}` });
      }
    }
  });

// The hand-written interfaces in types.ts are what people read; this line
// stops the build when the schema and the interfaces disagree.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesTypes: Same<z.infer<typeof ReportDataSchema>, ReportData> = true;
void schemaMatchesTypes;

function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '') || '(top level)';
}

/**
 * Validates report data. Throws a DataError listing every problem as
 * `field: message` (e.g. `comparisons[2].wins: expected int, received number`);
 * the error's `field` is the first one.
 */
export function parseReportData(input: unknown, source = 'report data'): ReportData {
  if (input && typeof input === 'object' && 'schema' in input && input.schema !== REPORT_SCHEMA) {
    throw new DataError(`${source}: schema ${JSON.stringify(input.schema)} is not ${REPORT_SCHEMA}; re-render with the crlhf version that wrote it`, source, undefined, 'schema');
  }
  const parsed = ReportDataSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues;
  const lines = issues.slice(0, 20).map((i) => {
    const keys = i.code === 'unrecognized_keys' ? ` (${i.keys.join(', ')})` : '';
    return `  ${fieldPath(i.path)}: ${i.message}${keys}`;
  });
  if (issues.length > 20) lines.push(`  … and ${issues.length - 20} more`);
  throw new DataError(`${source} is not valid ${REPORT_SCHEMA}:\n${lines.join('\n')}`, source, undefined, fieldPath(issues[0]?.path ?? []));
}
