// `npm run bench:model`: rlhf/'s training step and KV-cached generation on
// each TensorFlow.js backend, side by side with PyTorch on the CPU doing the
// identical computation, at the reference sizes, plus the machine's float32
// GEMM peak. Timings on a shared 2-core machine are noisy, so every process
// stays alive for the whole size, warms up once, and the harness interleaves
// their measurements (rotating the order each repetition); ratios are
// medians of per-repetition ratios of neighbouring measurements.
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BackendName } from '../rlhf/backend.js';
import type { SetupConfig } from './model-worker.js';
import type { StepProfile } from './profile.js';
import { LineWorker } from './protocol.js';
import { printProfiles, printTable, writeResults } from './report.js';
import { expectedParams, FLOP_CONVENTION, genFlops, SIZES, trainFlops, type SizeSpec } from './sizes.js';
import { median } from './stats.js';
import { ensureTorchVenv } from './venv.js';

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];
export const TORCH = 'pytorch';

export interface Options {
  sizes: string[];
  backends: BackendName[];
  /** Also wasm with one thread (CRLHF_THREADS=1) beside the data-parallel one, to show the speed-up side by side. */
  wasmOneThread: boolean;
  /** Also tensorflow as one rank whose TensorFlow pool has all the threads (CRLHF_THREADS=1), beside the data-parallel default. */
  tensorflowOneRank: boolean;
  /** Also tensorflow with every matrix product on Eigen (CRLHF_ONEDNN=0), beside the default's oneDNN products. */
  tensorflowEigen: boolean;
  /** Also tensorflow with TensorFlow's own elementwise ops (CRLHF_FUSED_KERNELS=0), beside the default's fused kernels. */
  tensorflowUnfused: boolean;
  withCpu: boolean;
  reps: number;
  threads: number;
  quick: boolean;
  profile: boolean;
  torch: boolean;
  torchAttn: 'explicit' | 'sdpa';
  out?: string;
  /** Overrides every size's generation batch (rows decoded in lock-step). */
  genBatch?: number;
  /** Extra environment for the rlhf/ workers only (e.g. TF_CPU_ALLOCATOR_USE_BFC=true), to try a setting side by side. */
  env: Record<string, string>;
  verbose: boolean;
}

const HELP = `npm run bench:model -- [options]
  --sizes tiny,small,large   reference sizes (default all three; see bench/sizes.ts)
  --backends tensorflow,wasm TensorFlow.js backends (default both; cpu needs --with-cpu)
  --wasm-one-thread          also wasm on one thread beside the data-parallel wasm runner (the speed-up of rlhf/parallel)
  --tensorflow-one-rank      also tensorflow as one rank with TensorFlow's own intra-op threads (CRLHF_THREADS=1)
                             beside the default: one data-parallel rank per thread, one intra-op thread each
  --tensorflow-eigen         also tensorflow with Eigen's matrix products only (CRLHF_ONEDNN=0) beside the default,
                             which sends transposed and multi-row batched products to oneDNN and pads
                             power-of-two strides (rlhf/native.ts)
  --tensorflow-unfused       also tensorflow with TensorFlow's own ops for LayerNorm, GELU and the attention
                             softmax (CRLHF_FUSED_KERNELS=0) beside the default's fused kernels (infra/kernels)
  --with-cpu                 also the pure-JS cpu backend, tiny size only (~100× slower)
  --reps N                   interleaved repetitions, medians reported (default 5)
  --threads N                threads for every side (default: cores = ${availableParallelism()})
  --quick                    1 repetition, tiny only: smoke-tests the harness in < 1 minute
  --profile                  tf.profile one training and one decoding step per backend
  --no-torch                 skip PyTorch (no venv, no ratios, no GEMM peak)
  --torch-attn explicit|sdpa PyTorch attention: explicit matmul+mask+softmax as rlhf (default)
                             or F.scaled_dot_product_attention (PyTorch as usually written)
  --gen-batch N              generation batch for every size (default: the size's own, 16/8/4)
  --out FILE                 also write the JSON there (always: bench/results/model-<time>.json)
  --env KEY=VALUE            extra environment for the rlhf/ workers only (repeatable), e.g.
                             TF_CPU_ALLOCATOR_USE_BFC=true, to try a setting against the same PyTorch
  --verbose                  forward the processes' own output`;

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: 'string' },
      backends: { type: 'string' },
      'wasm-one-thread': { type: 'boolean' },
      'tensorflow-one-rank': { type: 'boolean' },
      'tensorflow-eigen': { type: 'boolean' },
      'tensorflow-unfused': { type: 'boolean' },
      'with-cpu': { type: 'boolean', default: false },
      reps: { type: 'string' },
      threads: { type: 'string' },
      quick: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'no-torch': { type: 'boolean', default: false },
      'torch-attn': { type: 'string', default: 'explicit' },
      out: { type: 'string' },
      env: { type: 'string', multiple: true },
      'gen-batch': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const list = (s: string | undefined, dflt: string[]) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : dflt);
  const sizes = values.quick ? ['tiny'] : list(values.sizes, ['tiny', 'small', 'large']);
  for (const s of sizes) if (!SIZES[s]) throw new Error(`--sizes: unknown size ${s} (one of ${Object.keys(SIZES).join(', ')})`);
  const withCpu = values['with-cpu'] ?? false;
  const backends = list(values.backends, withCpu ? ['tensorflow', 'wasm', 'cpu'] : ['tensorflow', 'wasm']) as BackendName[];
  for (const b of backends) if (!BACKENDS.includes(b)) throw new Error(`--backends: unknown backend ${b} (one of ${BACKENDS.join(', ')})`);
  if (backends.includes('cpu') && !withCpu) throw new Error('--backends cpu needs --with-cpu (it is ~100× slower; tiny size only)');
  const int = (s: string | undefined, dflt: number, name: string) => {
    const n = s === undefined ? dflt : Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${s}`);
    return n;
  };
  const torchAttn = values['torch-attn'];
  if (torchAttn !== 'explicit' && torchAttn !== 'sdpa') throw new Error(`--torch-attn must be explicit or sdpa, got ${torchAttn}`);
  return {
    sizes,
    backends,
    wasmOneThread: values['wasm-one-thread'] ?? false,
    tensorflowOneRank: values['tensorflow-one-rank'] ?? false,
    tensorflowEigen: values['tensorflow-eigen'] ?? false,
    tensorflowUnfused: values['tensorflow-unfused'] ?? false,
    withCpu,
    reps: values.quick ? 1 : int(values.reps, 5, '--reps'),
    threads: int(values.threads, availableParallelism(), '--threads'),
    quick: values.quick ?? false,
    profile: values.profile ?? false,
    torch: !values['no-torch'],
    torchAttn,
    out: values.out,
    ...(values['gen-batch'] === undefined ? {} : { genBatch: int(values['gen-batch'], 0, '--gen-batch') }),
    env: Object.fromEntries(
      (values.env ?? []).map((kv) => {
        const i = kv.indexOf('=');
        if (i <= 0) throw new Error(`--env wants KEY=VALUE, got ${kv}`);
        return [kv.slice(0, i), kv.slice(i + 1)];
      }),
    ),
    verbose: values.verbose ?? false,
  };
}

// ------------------------------------------------------------------ results

export interface Throughput {
  /** Per repetition: median ms of that repetition's calls. */
  msPerRep: number[];
  ms: number;
  tokensPerS: number;
  gflops: number;
  /** GFLOP/s counting the attention products too. */
  gflopsWithAttn: number;
  /** Our tokens/s ÷ PyTorch's: median over repetitions of neighbouring measurements. */
  ratioToTorch: number | null;
  /**
   * Best repetition's tokens/s, and the ratio of both sides' best repetitions:
   * interference from other work only ever slows a run down, so on a shared
   * machine the best is the least disturbed estimate.
   */
  bestTokensPerS: number;
  ratioOfBest: number | null;
  fractionOfPeak: number | null;
}

export interface RunnerResult {
  runner: string;
  params?: number;
  info?: unknown;
  error?: string;
  train?: Throughput;
  gen?: Throughput;
  /** tf.profile (ours, with shapes and dispatch cost) or torch.profiler (PyTorch). */
  profile?: { train: StepProfile; decode: StepProfile; dispatchUs?: number };
}

export interface SizeResult {
  size: SizeSpec;
  params: number;
  trainFlops: ReturnType<typeof trainFlops>;
  genFlops: ReturnType<typeof genFlops>;
  loadavg: { before: number[]; after: number[] };
  runners: RunnerResult[];
}

export interface GemmPeak {
  /** GFLOP/s by matrix size n, per library and per measurement (start, end of the run). */
  runs: { numpy: Record<string, number>; torch: Record<string, number>; numpyVersion?: string }[];
  peakGflops: number;
}

export interface ModelBenchResults {
  schema: 'crlhf.bench.model/v1';
  startedAt: string;
  finishedAt: string;
  options: Options;
  machine: { cpu: string; cores: number; memGiB: number; node: string; platform: string };
  /** rlhf: data-parallel ranks (rlhf/parallel, CRLHF_THREADS), each running single-threaded kernels (tensorflow: one intra-op thread). */
  threads: { rlhfTensorflow: number; rlhfWasm: number; rlhfCpu: number; pytorch: number };
  flopConvention: string;
  gemm: GemmPeak | null;
  sizes: SizeResult[];
}

// ------------------------------------------------------------------ runners

interface Runner {
  name: string;
  worker: LineWorker;
  stepsPerRep: number;
  result: RunnerResult;
  /** Indexed by repetition; a hole where that repetition failed. */
  trainMs: number[];
  genMs: number[];
}

function threadEnv(threads: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // TensorFlow's C library (tfjs-node) reads these; OpenMP/MKL/OpenBLAS for PyTorch and numpy.
    TF_NUM_INTRAOP_THREADS: String(threads),
    TF_NUM_INTEROP_THREADS: '1',
    TF_CPP_MIN_LOG_LEVEL: '2',
    OMP_NUM_THREADS: String(threads),
    MKL_NUM_THREADS: String(threads),
    OPENBLAS_NUM_THREADS: String(threads),
    // rlhf: data-parallel ranks (rlhf/parallel); on tensorflow each rank runs TensorFlow on one thread.
    CRLHF_THREADS: String(threads),
  };
}

function startOurs(backend: BackendName, opts: Options, extraEnv: Record<string, string> = {}, label = backend as string): LineWorker {
  const env = { ...threadEnv(opts.threads), ...opts.env, ...extraEnv, CRLHF_BACKEND: backend };
  return new LineWorker(
    `rlhf/${label}`,
    process.execPath,
    ['--import', 'tsx', `${BENCH_DIR}model-worker.ts`, JSON.stringify({ backend })],
    env,
    opts.verbose,
  );
}

function startTorch(python: string, opts: Options): LineWorker {
  return new LineWorker(TORCH, python, [`${BENCH_DIR}torch_model.py`, '--threads', String(opts.threads)], threadEnv(opts.threads), opts.verbose);
}

function firstLine(err: unknown): string {
  return ((err as Error).message ?? String(err)).split('\n').slice(0, 3).join(' | ');
}

/** Rotates the list by r, so no runner always goes first (or right after another). */
function rotate<T>(xs: T[], r: number): T[] {
  const k = r % Math.max(1, xs.length);
  return [...xs.slice(k), ...xs.slice(0, k)];
}

async function benchSize(size: SizeSpec, opts: Options, python: string | null, peak: number | null): Promise<SizeResult> {
  const backends = opts.backends.filter((b) => b !== 'cpu' || size.name === 'tiny');
  const base = {
    model: size.model,
    train: size.train,
    gen: size.gen,
    seed: 1,
    warmupSteps: opts.quick ? 1 : size.name === 'large' ? 1 : 2,
    warmupGens: 1,
  } satisfies SetupConfig;
  const runner = (name: string, worker: LineWorker, slow = false): Runner => ({
    name,
    worker,
    stepsPerRep: slow || opts.quick ? 1 : size.stepsPerRep,
    result: { runner: name },
    trainMs: [],
    genMs: [],
  });
  const runners = backends.map((b) => runner(b, startOurs(b, opts), b === 'cpu'));
  // Variants beside the default, where asked for: one rank, Eigen's products only, no fused kernels.
  const variants: [BackendName, boolean, string, Record<string, string>][] = [
    ['wasm', opts.wasmOneThread, 'wasm-1thread', { CRLHF_THREADS: '1' }],
    ['tensorflow', opts.tensorflowOneRank, 'tensorflow-1rank', { CRLHF_THREADS: '1' }],
    ['tensorflow', opts.tensorflowEigen, 'tensorflow-eigen', { CRLHF_ONEDNN: '0' }],
    ['tensorflow', opts.tensorflowUnfused, 'tensorflow-unfused', { CRLHF_FUSED_KERNELS: '0' }],
  ];
  for (const [b, wanted, label, env] of variants) if (wanted && backends.includes(b)) runners.push(runner(label, startOurs(b, opts, env, label)));
  if (python) runners.push(runner(TORCH, startTorch(python, opts)));
  const loadBefore = loadavg();
  log(`${size.name}: setting up ${runners.map((r) => r.name).join(', ')} (model, batch, ${base.warmupSteps} warm-up steps, ${base.warmupGens} warm-up generation)`);
  await Promise.all(
    runners.map(async (r) => {
      try {
        const cfg = r.name === 'cpu' ? { ...base, warmupSteps: 1 } : base;
        const info = await r.worker.request<{ params: number }>({ cmd: 'setup', config: r.name === TORCH ? { ...cfg, attn: opts.torchAttn } : cfg });
        r.result.params = info.params;
        r.result.info = info;
      } catch (err) {
        r.result.error = `setup: ${firstLine(err)}`;
      }
    }),
  );
  const params = expectedParams(size.model);
  for (const r of runners) {
    if (r.result.params !== undefined && r.result.params !== params) {
      r.result.error = `has ${r.result.params} parameters, the reference config has ${params}: not the same model`;
    }
  }
  const alive = () => runners.filter((r) => !r.result.error);
  for (let rep = 0; rep < opts.reps; rep++) {
    const order = rotate(alive(), rep);
    for (const r of order) {
      try {
        const out = await r.worker.request<{ ms: number[] }>({ cmd: 'train', steps: r.stepsPerRep });
        r.trainMs[rep] = median(out.ms);
      } catch (err) {
        r.result.error = `train: ${firstLine(err)}`;
      }
    }
    for (const r of rotate(alive(), rep)) {
      try {
        const out = await r.worker.request<{ ms: number[] }>({ cmd: 'gen', runs: 1 });
        r.genMs[rep] = median(out.ms);
      } catch (err) {
        r.result.error = `gen: ${firstLine(err)}`;
      }
    }
    log(
      `${size.name} rep ${rep + 1}/${opts.reps}: ` +
        runners.map((r) => (r.result.error ? `${r.name} failed` : `${r.name} ${fmtMs(r.trainMs[rep])}/step, ${fmtMs(r.genMs[rep])}/gen`)).join('; '),
    );
  }
  if (opts.profile) {
    for (const r of alive()) {
      try {
        r.result.profile = await r.worker.request({ cmd: 'profile' });
      } catch (err) {
        log(`${size.name} ${r.name}: profile failed: ${firstLine(err)}`);
      }
    }
  }
  await Promise.all(runners.map((r) => r.worker.close()));

  const tf = trainFlops(size, params);
  const gf = genFlops(size, params);
  const torch = runners.find((r) => r.name === TORCH);
  for (const r of runners) {
    r.result.train = throughput(r.trainMs, torch?.trainMs, tf.tokens, tf.flops, tf.attnFlops, peak);
    r.result.gen = throughput(r.genMs, torch?.genMs, gf.newTokens, gf.flops, gf.attnFlops, peak);
  }
  return { size, params, trainFlops: tf, genFlops: gf, loadavg: { before: loadBefore, after: loadavg() }, runners: runners.map((r) => r.result) };
}

function throughput(
  perRep: number[],
  torchPerRep: number[] | undefined,
  tokens: number,
  flops: number,
  attnFlops: number,
  peak: number | null,
): Throughput | undefined {
  const ms = perRep.filter((x) => x !== undefined);
  if (ms.length === 0) return undefined;
  const m = median(ms);
  const gflops = flops / m / 1e6;
  // Pair each repetition with PyTorch's in the same repetition (they ran back to back).
  const ratios: number[] = [];
  perRep.forEach((x, i) => {
    const t = torchPerRep?.[i];
    if (x !== undefined && t !== undefined) ratios.push(t / x);
  });
  const torchDone = (torchPerRep ?? []).filter((x) => x !== undefined);
  return {
    msPerRep: ms,
    ms: m,
    bestTokensPerS: (tokens / Math.min(...ms)) * 1e3,
    ratioOfBest: torchDone.length ? Math.min(...torchDone) / Math.min(...ms) : null,
    tokensPerS: (tokens / m) * 1e3,
    gflops,
    gflopsWithAttn: (flops + attnFlops) / m / 1e6,
    ratioToTorch: ratios.length ? median(ratios) : null,
    fractionOfPeak: peak ? gflops / peak : null,
  };
}

async function gemmPeak(python: string, opts: Options): Promise<GemmPeak['runs'][number]> {
  const w = startTorch(python, opts);
  try {
    return await w.request({ cmd: 'gemm', sizes: opts.quick ? [512, 1024] : [512, 1024, 1536, 2048], reps: opts.quick ? 3 : 5 });
  } finally {
    await w.close();
  }
}

function peakOf(runs: GemmPeak['runs']): number {
  return Math.max(...runs.flatMap((r) => [...Object.values(r.numpy), ...Object.values(r.torch)]));
}

function fmtMs(ms: number | undefined): string {
  if (ms === undefined) return '–';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

export async function runModelBench(argv: string[]): Promise<number> {
  const opts = parseOptions(argv);
  const startedAt = new Date();
  const load = loadavg()[0] as number;
  if (load > availableParallelism()) {
    log(`warning: load average ${load.toFixed(1)} on ${availableParallelism()} cores: other work competes for the CPU, timings will be noisy`);
  }
  const python = opts.torch ? await ensureTorchVenv() : null;
  const gemmRuns: GemmPeak['runs'] = [];
  if (python) {
    log(`GEMM peak: float32 square matmul, numpy and torch.mm, ${opts.threads} threads`);
    gemmRuns.push(await gemmPeak(python, opts));
  }
  const sizes: SizeResult[] = [];
  for (const name of opts.sizes) {
    const base = SIZES[name] as SizeSpec;
    const size = opts.genBatch ? { ...base, gen: { ...base.gen, batch: opts.genBatch } } : base;
    sizes.push(await benchSize(size, opts, python, gemmRuns.length ? peakOf(gemmRuns) : null));
  }
  if (python && !opts.quick) {
    // Measured again at the end: the peak is the best the machine showed during the run.
    gemmRuns.push(await gemmPeak(python, opts));
    const peak = peakOf(gemmRuns);
    for (const s of sizes) for (const r of s.runners) for (const t of [r.train, r.gen]) if (t) t.fractionOfPeak = t.gflops / peak;
  }
  // Every rlhf/ runner has CRLHF_THREADS from threadEnv, unless --env overrides it.
  const ranks = Number(opts.env.CRLHF_THREADS ?? opts.threads);
  const results: ModelBenchResults = {
    schema: 'crlhf.bench.model/v1',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options: opts,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` },
    threads: { rlhfTensorflow: ranks, rlhfWasm: ranks, rlhfCpu: ranks, pytorch: opts.threads },
    flopConvention: FLOP_CONVENTION,
    gemm: gemmRuns.length ? { runs: gemmRuns, peakGflops: peakOf(gemmRuns) } : null,
    sizes,
  };
  printTable(results);
  if (opts.profile) printProfiles(results);
  const paths = writeResults(results, opts.out);
  log(`results: ${paths.join(', ')}`);
  const failed = sizes.flatMap((s) => s.runners.filter((r) => r.error).map((r) => `${s.size.name}/${r.runner}: ${r.error}`));
  for (const f of failed) log(`failed: ${f}`);
  return 0;
}
