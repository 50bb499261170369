// The model benchmark's outputs: a table on stdout (one row per size and
// runner), a profile summary, and the full results as JSON under
// bench/results/ (git-ignored) and wherever --out says.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelBenchResults, RunnerResult, Throughput } from './model.js';
import type { KernelProfile, StepProfile } from './profile.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

const HEADER = ['size', 'runner', 'train tok/s', 'train GFLOP/s', 'train ×PyTorch', 'train of peak', 'gen tok/s', 'gen GFLOP/s', 'gen ×PyTorch', 'gen of peak'];

function num(x: number | null | undefined, digits = 0): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '–' : `${(100 * x).toFixed(1)}%`;
}

function cells(t: Throughput | undefined): string[] {
  if (!t) return ['–', '–', '–', '–'];
  return [num(t.tokensPerS), num(t.gflops, 1), t.ratioToTorch === null ? '–' : `${t.ratioToTorch.toFixed(2)}×`, pct(t.fractionOfPeak)];
}

export function tableRows(results: ModelBenchResults): string[][] {
  const rows: string[][] = [];
  for (const s of results.sizes) {
    for (const r of s.runners) {
      const label = r.runner === 'pytorch' ? 'pytorch' : `rlhf/${r.runner}`;
      if (r.error && !r.train) {
        rows.push([s.size.name, label, `failed: ${r.error.slice(0, 90)}`]);
        continue;
      }
      const [tt = '', tg = '', tr = '', tp = ''] = cells(r.train);
      const [gt = '', gg = '', gr = '', gp = ''] = cells(r.gen);
      rows.push([s.size.name, label, tt, tg, tr, tp, gt, gg, gr, gp]);
    }
  }
  return rows;
}

/** A Markdown table (readable as plain text too). */
export function markdownTable(header: string[], rows: string[][]): string {
  const width = header.map((h, i) => Math.max(h.length, ...rows.filter((r) => r.length === header.length).map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.length === header.length ? `| ${r.map((c, i) => (i < 2 ? c.padEnd(width[i] as number) : c.padStart(width[i] as number))).join(' | ')} |` : `| ${r.join(' | ')} |`;
  return [line(header), `|${width.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`, ...rows.map(line)].join('\n');
}

export function printTable(results: ModelBenchResults): void {
  const g = results.gemm;
  console.log('');
  console.log(
    `Model benchmark: ${results.machine.cpu}, ${results.machine.cores} cores, ${results.options.threads} threads ` +
      `(rlhf: ${results.threads.rlhfWasm} data-parallel ranks; tensorflow ranks run TensorFlow on one thread each), medians of ${results.options.reps} interleaved repetitions`,
  );
  if (g) {
    const best = (lib: 'numpy' | 'torch') => Math.max(0, ...g.runs.flatMap((r) => Object.values(r[lib])));
    console.log(`float32 GEMM peak: ${g.peakGflops.toFixed(1)} GFLOP/s (numpy ${best('numpy').toFixed(1)}, torch.mm ${best('torch').toFixed(1)}; square n = ${Object.keys(g.runs[0]?.numpy ?? {}).join(', ')})`);
  }
  for (const s of results.sizes) {
    const { model: m, train: t, gen } = s.size;
    console.log(
      `${s.size.name}: ${m.nLayers} layers, d=${m.dModel}, ${m.nHeads} heads, context ${m.contextLength}, vocab ${m.vocabSize}, P=${s.params.toLocaleString('en-US')}; ` +
        `train ${t.batch}×${t.seqLen} tokens/step; gen ${gen.batch} prompts × ${gen.promptLen} + ${gen.newTokens} new; load avg ${s.loadavg.before[0]?.toFixed(1)} → ${s.loadavg.after[0]?.toFixed(1)}`,
    );
  }
  console.log('');
  console.log(markdownTable(HEADER, tableRows(results)));
  console.log('');
  console.log(`×PyTorch: our tokens/s ÷ PyTorch's (>1 is faster). ${results.flopConvention}`);
  const best = results.sizes.flatMap((s) =>
    s.runners
      .filter((r) => r.runner !== 'pytorch' && r.train?.ratioOfBest != null)
      .map((r) => `${s.size.name} ${r.runner} train ${r.train?.ratioOfBest?.toFixed(2)}× gen ${r.gen?.ratioOfBest?.toFixed(2) ?? '–'}×`),
  );
  if (best.length) console.log(`Best repetition against best repetition (least disturbed by other work): ${best.join('; ')}`);
}

function topKernels(p: RunnerResult['profile'], which: 'train' | 'decode', n: number): string {
  const prof = p?.[which];
  if (!prof) return '';
  return prof.byKernel
    .slice(0, n)
    .map((k) => `${k.name} ${k.ms.toFixed(1)} ms (${((100 * k.ms) / Math.max(prof.kernelMs, 1e-9)).toFixed(0)}%, ×${k.count})`)
    .join(', ');
}

export function printProfiles(results: ModelBenchResults): void {
  for (const s of results.sizes) {
    for (const r of s.runners) {
      const p = r.profile;
      if (!p) continue;
      console.log('');
      const timer = (p.train as Partial<KernelProfile>).timer;
      const who =
        r.runner === 'pytorch'
          ? 'pytorch (torch.profiler, leaf aten ops, self CPU time, mean of'
          : timer === 'executeOp'
            ? `rlhf/${r.runner} (TensorFlow ops timed at the addon's executeOp, per-op medians of`
            : `rlhf/${r.runner} (tf.profile, per-kernel medians of`;
      const dispatch = p.dispatchUs === undefined ? '' : `; one op costs ~${p.dispatchUs.toFixed(0)} µs to dispatch`;
      console.log(`profile ${s.size.name} ${who} ${p.train.runs} calls${dispatch})`);
      for (const which of ['train', 'decode'] as const) {
        const q: StepProfile & Partial<KernelProfile> = p[which];
        // What the kernels are measured against: the step as timed in the repetitions
        // (training), the same call unprofiled (decoding), else the profiled call
        // (PyTorch, whose profiler costs little).
        const ours = r.runner !== 'pytorch';
        const wall = ours && which === 'train' ? (r.train?.ms ?? q.wallMs) : (q.plainWallMs ?? q.wallMs);
        const wallWhat = ours && which === 'train' && r.train ? 'median step' : q.plainWallMs !== undefined ? 'unprofiled step' : 'profiled step';
        const peak = q.peakMiB === undefined ? '' : `; tensors peak at ${q.peakMiB.toFixed(0)} MiB`;
        console.log(
          `  ${which === 'train' ? 'training step' : 'decoding step'}: ${q.kernels.toFixed(0)} kernels taking ${q.kernelMs.toFixed(1)} ms, ` +
            `${wall.toFixed(1)} ms ${wallWhat} (kernels ${((100 * q.kernelMs) / wall).toFixed(0)}%; the rest is framework overhead outside kernels)${peak}`,
        );
        console.log(`    top: ${topKernels(p, which, 8)}`);
        for (const t of q.topShapes?.slice(0, which === 'train' ? 5 : 3) ?? []) {
          console.log(`    ${t.ms.toFixed(1)} ms ×${t.count} ${t.name} ${t.inputShapes}`);
        }
      }
    }
  }
}

export function writeResults(results: ModelBenchResults, out?: string): string[] {
  const stamp = results.startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const paths = [join(RESULTS_DIR, `model-${stamp}.json`)];
  if (out) paths.push(out);
  const text = JSON.stringify(results, null, 2) + '\n';
  for (const p of paths) {
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  return paths;
}
