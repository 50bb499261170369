"""The peer of rlhf/: the same transformer, training step and KV-cached sampling
in PyTorch eager on the CPU, driven by bench/model.ts over stdin/stdout.

Identical computation to rlhf/model.ts + rlhf/sft.ts + rlhf/optim.ts +
rlhf/sampling.ts, op for op where it matters for time:
  - token + learned position embeddings; pre-LayerNorm blocks (eps 1e-5);
  - causal multi-head attention with one fused QKV matmul, an explicit
    additive mask (causal · key padding, -1e9) and softmax, not
    scaled_dot_product_attention (unless --attn sdpa, offered as the
    "PyTorch as people write it" variant);
  - GELU, tanh approximation (rlhf/ops.ts gelu is x·σ(2c(x + a·x³)), the
    same function);
  - final LayerNorm; output projection tied to the token embedding, computed
    only at the positions that predict response tokens (as sftLoss);
  - loss: masked mean token NLL; global-norm clipping at 1.0; AdamW
    (β 0.9/0.999, eps 1e-8, weight decay 0.01 on rank ≥ 2 weights only);
  - generation: one prefill pass, then one cached step per token with the
    cache grown by concatenation (as rlhf), sampling at temperature 1 with
    torch.multinomial from a seeded torch.Generator.

Protocol: one JSON object per stdin line, {"cmd": ...}; each answer is one
stdout line starting with "@@bench " followed by JSON (the same protocol as
bench/model-worker.ts). Commands: setup, train, gen, profile, exit. `gemm` measures the
float32 matrix-multiply peak (numpy/OpenBLAS and torch.mm).
"""

import json
import math
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------- the model


class Block(nn.Module):
    def __init__(self, d, n_heads, mlp_ratio, eps, attn):
        super().__init__()
        self.n_heads = n_heads
        self.attn_impl = attn
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=eps)
        self.fc = nn.Linear(d, mlp_ratio * d)
        self.fc_proj = nn.Linear(mlp_ratio * d, d)

    def forward(self, x, bias, B, T, past=None):
        """x [B·T, d] → [B·T, d] and this layer's keys/values [B, H, Tk, hd]."""
        H = self.n_heads
        d = x.shape[-1]
        hd = d // H
        qkv = self.qkv(self.ln1(x))  # [B·T, 3d]
        heads = qkv.view(B, T, 3 * H, hd).transpose(1, 2)  # [B, 3H, T, hd]
        q, k, v = heads.split(H, dim=1)  # [B, H, T, hd] each
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        if self.attn_impl == "sdpa":
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        else:
            scores = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1)  # [B, H, T, Tk]
            y = torch.softmax(scores + bias, dim=-1) @ v  # [B, H, T, hd]
        x = x + self.proj(y.transpose(1, 2).reshape(B * T, d))
        x = x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x, (k, v)


class PolicyModel(nn.Module):
    def __init__(self, cfg, attn="explicit"):
        super().__init__()
        V, C, d = cfg["vocabSize"], cfg["contextLength"], cfg["dModel"]
        eps = cfg.get("layerNormEps", 1e-5)
        self.wte = nn.Parameter(torch.randn(V, d) * 0.02)
        self.wpe = nn.Parameter(torch.randn(C, d) * 0.02)
        self.blocks = nn.ModuleList(
            Block(d, cfg["nHeads"], cfg.get("mlpRatio", 4), eps, attn) for _ in range(cfg["nLayers"])
        )
        self.lnf = nn.LayerNorm(d, eps=eps)

    def forward(self, ids, positions, key_mask, past=None):
        """ids/positions [B, T] (T new columns), key_mask [B, Tk] over cached + new columns.
        Returns final hidden [B, T, d] and every layer's keys/values."""
        B, T = ids.shape
        Tk = key_mask.shape[1]
        # Additive bias [B, 1, T, Tk] as rlhf/model.ts: 0 where allowed, -1e9 elsewhere.
        causal = torch.ones(T, Tk).tril(diagonal=Tk - T)
        bias = (1 - causal * key_mask[:, None, None, :]) * -1e9
        x = (self.wte[ids.reshape(-1)] + self.wpe[positions.reshape(-1)])  # [B·T, d]
        cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, bias, B, T, None if past is None else past[i])
            cache.append(kv)
        return self.lnf(x).view(B, T, -1), cache

    def logits(self, hidden):
        return hidden @ self.wte.t()


def num_params(model):
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------- training step


class Trainer:
    def __init__(self, model, cfg):
        self.model = model
        tcfg = cfg["train"]
        B, T, P = tcfg["batch"], tcfg["seqLen"], tcfg["promptLen"]
        V = cfg["model"]["vocabSize"]
        g = torch.Generator().manual_seed(cfg.get("seed", 0))
        self.ids = torch.randint(5, V, (B, T), generator=g)
        self.positions = torch.arange(T).expand(B, T).contiguous()
        self.key_mask = torch.ones(B, T)
        self.P, self.R = P, T - P
        self.targets = self.ids[:, P:].reshape(-1)
        self.response_mask = torch.ones(B * self.R)
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.get("lr", 1e-4),
            betas=(0.9, 0.999),
            eps=1e-8,
        )
        self.tokens = B * T

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        hidden, _ = self.model(self.ids, self.positions, self.key_mask)
        d = hidden.shape[-1]
        # Column P-1+j predicts response token j (rlhf responseHidden).
        h = hidden[:, self.P - 1 : self.P - 1 + self.R].reshape(-1, d)
        nll = F.cross_entropy(self.model.logits(h), self.targets, reduction="none")
        loss = (nll * self.response_mask).sum() / self.response_mask.sum()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        # One host read of loss and norm, as SftTrainer.step.
        return float(loss.item()), float(norm.item())


# -------------------------------------------------------------- generation


@torch.no_grad()
def generate(model, prompts, new_tokens, gen):
    """prompts [B, P] → B×new_tokens sampled ids; prefill once, then cached steps."""
    B, P = prompts.shape
    positions = torch.arange(P).expand(B, P)
    mask = torch.ones(B, P + new_tokens)
    hidden, cache = model(prompts, positions, mask[:, :P])
    logits = model.logits(hidden[:, -1])
    out = torch.empty(B, new_tokens, dtype=torch.long)
    for s in range(new_tokens):
        nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen)  # [B, 1]
        out[:, s] = nxt[:, 0]
        if s == new_tokens - 1:
            break
        pos = torch.full((B, 1), P + s, dtype=torch.long)
        hidden, cache = model(nxt, pos, mask[:, : P + s + 1], cache)
        logits = model.logits(hidden[:, -1])
    return out


# ---------------------------------------------------------------- profile


def profile_call(fn, runs=3, top=12):
    """torch.profiler over `runs` calls after one profiled warm-up call (the
    profiler's own start-up lands there): per call, leaf aten ops (≈ kernels)
    and self CPU time by op name, to set beside tf.profile's kernel table."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]):
        fn()
    walls = []
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            walls.append((time.perf_counter() - t0) * 1e3)
    leaves = [e for e in prof.events() if not e.cpu_children and e.name.startswith("aten::")]
    by_name = {}
    for e in prof.key_averages():
        if e.self_cpu_time_total > 0:
            by_name[e.key] = {"name": e.key, "count": e.count / runs, "ms": e.self_cpu_time_total / 1e3 / runs}
    ranked = sorted(by_name.values(), key=lambda k: -k["ms"])
    return {
        "runs": runs,
        "wallMs": statistics.median(walls),
        "kernels": len(leaves) / runs,
        "kernelMs": sum(k["ms"] for k in ranked),
        "byKernel": ranked[:top],
    }


def profile_decode_step(model, prompts):
    B, P = prompts.shape
    with torch.no_grad():
        mask = torch.ones(B, P + 1)
        hidden, cache = model(prompts, torch.arange(P).expand(B, P), mask[:, :P])
        nxt = torch.full((B, 1), 5, dtype=torch.long)
        pos = torch.full((B, 1), P, dtype=torch.long)

        def step():
            h, _ = model(nxt, pos, mask, cache)
            torch.multinomial(torch.softmax(model.logits(h[:, -1]), dim=-1), 1)

        return profile_call(step, runs=5)


# ---------------------------------------------------------------- the GEMM peak


def gemm_peak(sizes, reps, threads):
    """Median GFLOP/s of float32 square products, numpy (OpenBLAS) and torch.mm (MKL/oneDNN)."""
    out = {"numpy": {}, "torch": {}}
    try:
        import numpy as np

        out["numpyVersion"] = np.__version__
    except ImportError:
        np = None
    for n in sizes:
        flop = 2.0 * n * n * n
        if np is not None:
            a = np.random.rand(n, n).astype(np.float32)
            b = np.random.rand(n, n).astype(np.float32)
            a @ b
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                a @ b
                ts.append(time.perf_counter() - t0)
            out["numpy"][str(n)] = flop / statistics.median(ts) / 1e9
        ta = torch.rand(n, n)
        tb = torch.rand(n, n)
        torch.mm(ta, tb)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(ta, tb)
            ts.append(time.perf_counter() - t0)
        out["torch"][str(n)] = flop / statistics.median(ts) / 1e9
    out["threads"] = threads
    return out


# ---------------------------------------------------------------- protocol


class Server:
    def __init__(self):
        self.cfg = None
        self.model = None
        self.trainer = None
        self.gen = None

    def setup(self, cfg):
        self.cfg = cfg
        torch.manual_seed(cfg.get("seed", 0))
        self.model = PolicyModel(cfg["model"], cfg.get("attn", "explicit"))
        self.trainer = Trainer(self.model, cfg)
        g = torch.Generator().manual_seed(cfg.get("seed", 0) + 1)
        gc = cfg["gen"]
        self.prompts = torch.randint(5, cfg["model"]["vocabSize"], (gc["batch"], gc["promptLen"]), generator=g)
        self.gen = torch.Generator().manual_seed(cfg.get("seed", 0) + 2)
        for _ in range(cfg.get("warmupSteps", 2)):
            self.trainer.step()
        for _ in range(cfg.get("warmupGens", 1)):
            generate(self.model, self.prompts, gc["newTokens"], self.gen)
        return {
            "params": num_params(self.model),
            "threads": torch.get_num_threads(),
            "torchVersion": torch.__version__,
            "python": platform.python_version(),
            "attn": cfg.get("attn", "explicit"),
        }

    def train(self, steps):
        ms = []
        loss = None
        for _ in range(steps):
            t0 = time.perf_counter()
            loss, _ = self.trainer.step()
            ms.append((time.perf_counter() - t0) * 1e3)
        return {"ms": ms, "tokens": self.trainer.tokens, "loss": loss}

    def generate(self, runs):
        gc = self.cfg["gen"]
        ms = []
        for _ in range(runs):
            t0 = time.perf_counter()
            out = generate(self.model, self.prompts, gc["newTokens"], self.gen)
            ms.append((time.perf_counter() - t0) * 1e3)
        return {"ms": ms, "newTokens": int(out.numel())}


def main():
    threads = None
    for i, arg in enumerate(sys.argv):
        if arg == "--threads":
            threads = int(sys.argv[i + 1])
    if threads:
        torch.set_num_threads(threads)
    server = Server()
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        cmd = msg.get("cmd")
        try:
            if cmd == "setup":
                out = server.setup(msg["config"])
            elif cmd == "train":
                out = server.train(msg.get("steps", 1))
            elif cmd == "gen":
                out = server.generate(msg.get("runs", 1))
            elif cmd == "profile":
                out = {
                    "train": profile_call(server.trainer.step),
                    "decode": profile_decode_step(server.model, server.prompts),
                }
            elif cmd == "gemm":
                out = gemm_peak(msg.get("sizes", [512, 1024, 1536, 2048]), msg.get("reps", 5), torch.get_num_threads())
            elif cmd == "exit":
                print("@@bench " + json.dumps({"ok": True}), flush=True)
                return
            else:
                raise ValueError(f"unknown command {cmd!r}")
            print("@@bench " + json.dumps(out), flush=True)
        except Exception as err:  # reported to the harness, which fails loudly
            print("@@bench " + json.dumps({"error": f"{type(err).__name__}: {err}"}), flush=True)


if __name__ == "__main__":
    main()
