// A private Python virtual environment with PyTorch for the benchmark's peer,
// built from PyPI only and cached under $CRLHF_CACHE_DIR/bench-venv.
//
// PyPI's Linux x86_64 `torch` wheel is the CUDA build (539 MB); its normal
// dependencies add ~3 GB of nvidia-* CUDA wheels that a CPU benchmark never
// uses. So we install the wheel with --no-deps plus its few pure-Python
// dependencies, and let bench/torch_cuda_stubs.py build tiny stand-ins for the
// CUDA libraries it links against (see there). torch then runs on the CPU with
// its own MKL / oneDNN kernels, exactly as the full install would.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TORCH_VERSION = '2.15.0';

/** Known-good SHA-256 of the torch wheel, by file name (others are accepted with a warning). */
const TORCH_SHA256: Record<string, string> = {
  'torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl': '48c2d861134c0b5697c7602cb5ffa68f62a2989fdcd1717e593356f67996ca1e',
};

/** torch's pure-Python requirements (setuptools is only for building C++ extensions) and numpy for the GEMM peak. */
const PURE_DEPS = [
  'filelock==4.3.1',
  'typing-extensions==4.16.0',
  'sympy==1.14.0',
  'mpmath==1.3.0',
  'networkx==3.6.1',
  'jinja2==3.1.6',
  'MarkupSafe==3.0.4',
  'fsspec==2026.9.0',
  'numpy==2.4.6',
];

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const MARKER = '.crlhf-bench-venv.json';

export function cacheDir(): string {
  return process.env.CRLHF_CACHE_DIR ?? join(homedir(), '.cache', 'contrastive-rlhf');
}

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function run(cmd: string, args: string[], what: string, quiet = false): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', stdio: quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'pipe', 'inherit'] });
  if (res.error) throw new Error(`${what}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`${what} failed (exit ${res.status}): ${(res.stderr ?? '').trim().split('\n').slice(-5).join('\n')}`);
  return res.stdout;
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface Marker {
  torch: string;
  deps: string[];
  wheel: string;
}

/**
 * The Python interpreter to run bench/torch_model.py with. `CRLHF_BENCH_PYTHON`
 * names an existing interpreter that already has torch (and skips all of this).
 */
export async function ensureTorchVenv(): Promise<string> {
  const override = process.env.CRLHF_BENCH_PYTHON;
  if (override) {
    log(`using CRLHF_BENCH_PYTHON=${override}`);
    return override;
  }
  const venv = join(cacheDir(), 'bench-venv');
  const python = join(venv, 'bin', 'python');
  const markerPath = join(venv, MARKER);
  if (existsSync(markerPath)) {
    const m = JSON.parse(readFileSync(markerPath, 'utf8')) as Marker;
    if (m.torch === TORCH_VERSION && m.deps.join() === PURE_DEPS.join()) {
      log(`PyTorch ${m.torch} venv present: ${venv}`);
      return python;
    }
    log(`venv at ${venv} has torch ${m.torch}, want ${TORCH_VERSION}: rebuilding`);
  }
  const started = performance.now();
  const step = (what: string) => {
    const t = performance.now();
    return () => log(`  ${what}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  };
  log(`building a private PyTorch ${TORCH_VERSION} CPU environment in ${venv} (once; ~540 MB download)`);
  rmSync(venv, { recursive: true, force: true });

  let done = step('python3 -m venv');
  run('python3', ['-m', 'venv', venv], 'python3 -m venv');
  done();

  // Download into the shared wheel cache with the venv's own pip, so the wheel
  // matches the venv's Python, and a rebuilt venv does not download again.
  const wheels = join(cacheDir(), 'wheels');
  mkdirSync(wheels, { recursive: true });
  done = step(`pip download torch==${TORCH_VERSION} --no-deps`);
  run(python, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '-d', wheels, `torch==${TORCH_VERSION}`], 'pip download torch');
  done();
  const tag = pythonTag(python);
  const wheel = readdirSync(wheels).find((f) => f.startsWith(`torch-${TORCH_VERSION}-${tag}-`) && f.endsWith('.whl'));
  if (!wheel) throw new Error(`pip reported success but no torch-${TORCH_VERSION} wheel for this Python is in ${wheels}`);
  const digest = await sha256(join(wheels, wheel));
  const want = TORCH_SHA256[wheel];
  if (want && digest !== want) {
    rmSync(join(wheels, wheel));
    throw new Error(`${wheel} has SHA-256 ${digest}, expected ${want} (deleted; rerun to download again)`);
  }
  if (!want) log(`  note: no pinned SHA-256 for ${wheel} (got ${digest})`);

  done = step('pip install --no-deps torch + pure-Python deps');
  run(python, ['-m', 'pip', 'install', '--quiet', '--no-deps', join(wheels, wheel), ...PURE_DEPS], 'pip install');
  done();

  done = step('CPU-only stand-ins for the CUDA libraries');
  const site = run(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], 'locate site-packages', true).trim();
  run(python, [join(BENCH_DIR, 'torch_cuda_stubs.py'), join(site, 'torch', 'lib')], 'torch_cuda_stubs.py');
  done();

  done = step('check: import torch; a @ b on the CPU');
  const check = run(
    python,
    ['-c', 'import torch; x = torch.randn(64, 64) @ torch.randn(64, 64); assert x.shape == (64, 64); assert not torch.cuda.is_available(); print(torch.__version__)'],
    'torch import check',
    true,
  );
  done();
  writeFileSync(markerPath, JSON.stringify({ torch: TORCH_VERSION, deps: PURE_DEPS, wheel } satisfies Marker, null, 2));
  log(`PyTorch ${check.trim()} ready in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return python;
}

/** The interpreter's wheel tag, cpXY. */
function pythonTag(python: string): string {
  return run(python, ['-c', 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")'], 'python version', true).trim();
}
