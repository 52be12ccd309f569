// Runs head.cu's kernels on the CPU (emu.h) in the order gpu/ops.go
// launches them and compares every result with a naive float64 reference.
// Build and run: scripts/kernel-emu/run.sh
#include "emu.h"
// HEAD_CU: another copy of head.cu (the mutants of mutants.sh).
#ifdef HEAD_CU
#include HEAD_CU
#else
#include "../../kernels/head.cu"
#endif

#include <cstdio>
#include <random>
#include <string>

typedef long long ll;

struct Case {
    const char *name;
    int h, w, c, f, k, classes, batch, samples, fsplits, wsplits;
    double smoothing;
    bool linear;
    // nan_weight plants a NaN in the conv kernel: the logits, the loss
    // and the gradients must come out NaN, as on the CPU (a ReLU that
    // drops NaN would hide it).
    bool nan_weight;
};

// same_class: got and want are both finite, both NaN, or the same
// infinity. The checks below fail any output where they are not: a NaN
// where float64 has a number is an error however small the others are.
static bool same_class(double got, double want) {
    if (std::isnan(want) || std::isnan(got)) return std::isnan(want) && std::isnan(got);
    if (std::isinf(want) || std::isinf(got)) return got == want;
    return true;
}

// relerr is max |got - want| / max |want| over the finite outputs, and
// +Inf when an output is not of want's class (same_class).
static double relerr(const std::vector<float> &got, const std::vector<double> &want) {
    double d = 0, s = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        if (!same_class(got[i], want[i])) return INFINITY;
        if (!std::isfinite(want[i])) continue;
        d = std::max(d, std::fabs(got[i] - want[i]));
        s = std::max(s, std::fabs(want[i]));
    }
    return d / std::max(s, 1e-6);
}

static unsigned cdiv(ll a, ll b) { return (unsigned)((a + b - 1) / b); }

static int run(const Case &cs) {
    std::mt19937_64 rng(42);
    std::normal_distribution<float> nd(0, 1);
    const int hw = cs.h * cs.w, fs = hw * cs.c, in = cs.linear ? cs.c : cs.f, kdim = cs.k * cs.k * cs.c;
    const int B = cs.batch, N = cs.classes, M = B * hw;
    std::vector<float> feats((size_t)cs.samples * fs), W(cs.linear ? 0 : (size_t)kdim * cs.f), cb(cs.linear ? 0 : cs.f),
        dk((size_t)in * N), db(N);
    for (auto *v : {&feats, &W, &cb, &dk, &db})
        for (auto &x : *v) x = (v == &feats ? 1.0f : 0.1f) * nd(rng);
    if (cs.nan_weight) {
        const uint32_t nan = 0x7fffffffu;
        std::memcpy(&W[(size_t)(kdim / 2) * cs.f], &nan, 4);
    }
    std::vector<int> idx(B), labels(B);
    for (int i = 0; i < B; ++i) {
        idx[i] = (int)(rng() % cs.samples);
        labels[i] = (int)(rng() % N);
    }

    // Kernels, as gpu/ops.go runs them.
    std::vector<float> act((size_t)M * std::max(cs.f, 1)), pooled((size_t)B * in), logits((size_t)B * N);
    std::vector<float> ws;
    if (!cs.linear) {
        int steps = (kdim + 7) / 8, slice = (steps + cs.fsplits - 1) / cs.fsplits * 8, splits = (kdim + slice - 1) / slice;
        ws.assign((size_t)splits * M * cs.f, 0);
        float *out = splits > 1 ? ws.data() : act.data();
        launch({cdiv(cs.f, 128), cdiv(M, 128), (unsigned)splits}, 256, [&] {
            conv_fwd(feats.data(), idx.data(), W.data(), cb.data(), out, B, cs.h, cs.w, cs.c, cs.f, cs.k, slice, splits == 1);
        });
        if (splits > 1)
            launch({cdiv((ll)M * cs.f, 256), 1, 1}, 256, [&] { splitk_reduce(ws.data(), cb.data(), act.data(), M, cs.f, splits, 1); });
        launch({cdiv(cs.f, 128), (unsigned)B, 1}, 128, [&] { pool_rows(act.data(), pooled.data(), hw, cs.f); });
    } else {
        launch({cdiv(in, 128), (unsigned)B, 1}, 128, [&] { gather_pool(feats.data(), idx.data(), pooled.data(), hw, in); });
    }
    launch({cdiv((ll)B * N, 256), 1, 1}, 256, [&] { dense_fwd(pooled.data(), dk.data(), db.data(), logits.data(), B, in, N); });
    std::vector<float> dlogits((size_t)B * N), gdk((size_t)in * N), gdb(N), dpooled((size_t)B * in), bsum((size_t)B * in),
        gW((size_t)kdim * std::max(cs.f, 1)), gcb(std::max(cs.f, 1));
    std::vector<double> loss(B);
    std::vector<ll> correct(B);
    launch({cdiv((ll)B * 32, 256), 1, 1}, 256, [&] {
        softmax_xent(logits.data(), labels.data(), dlogits.data(), loss.data(), correct.data(), B, N, cs.smoothing);
    });
    ll work = (ll)in * N + N + (cs.linear ? 0 : (ll)B * in);
    launch({cdiv(work, 256), 1, 1}, 256, [&] {
        dense_bwd(pooled.data(), dlogits.data(), dk.data(), gdk.data(), gdb.data(), cs.linear ? nullptr : dpooled.data(), B, in, N);
    });
    if (!cs.linear) {
        launch({cdiv(cs.f, 128), (unsigned)B, 1}, 128, [&] { unpool_relu(act.data(), dpooled.data(), bsum.data(), hw, cs.f); });
        launch({cdiv(cs.f, 128), 1, 1}, 128, [&] { sum_rows(bsum.data(), gcb.data(), B, cs.f); });
        int steps = (M + 7) / 8, slice = (steps + cs.wsplits - 1) / cs.wsplits * 8, splits = (M + slice - 1) / slice;
        ws.assign((size_t)splits * kdim * cs.f, 0);
        float *out = splits > 1 ? ws.data() : gW.data();
        launch({cdiv(cs.f, 128), cdiv(kdim, 128), (unsigned)splits}, 256, [&] {
            conv_wgrad(feats.data(), idx.data(), act.data(), out, B, cs.h, cs.w, cs.c, cs.f, cs.k, slice);
        });
        if (splits > 1)
            launch({cdiv((ll)kdim * cs.f, 256), 1, 1}, 256, [&] { splitk_reduce(ws.data(), nullptr, gW.data(), kdim, cs.f, splits, 0); });
    }

    // Reference, float64, direct loops.
    const int pad = cs.k / 2;
    std::vector<double> rW(gW.size()), rcb(gcb.size()), rdk(gdk.size()), rdb(N), rlogits((size_t)B * N);
    double rloss = 0;
    int rcorrect = 0;
    for (int b = 0; b < B; ++b) {
        const float *x = feats.data() + (size_t)idx[b] * fs;
        std::vector<double> pre((size_t)hw * std::max(cs.f, 1)), pool(in, 0);
        if (cs.linear) {
            for (int p = 0; p < hw; ++p)
                for (int ch = 0; ch < cs.c; ++ch) pool[ch] += x[p * cs.c + ch] / (double)hw;
        } else {
            for (int y = 0; y < cs.h; ++y)
                for (int xx = 0; xx < cs.w; ++xx)
                    for (int f = 0; f < cs.f; ++f) {
                        double s = cb[f];
                        for (int dy = 0; dy < cs.k; ++dy)
                            for (int dx = 0; dx < cs.k; ++dx) {
                                // Taps outside the image are products with 0, as in
                                // the kernels' zero-filled tiles (0 x NaN is NaN).
                                int sy = y + dy - pad, sx = xx + dx - pad;
                                const bool in = sy >= 0 && sy < cs.h && sx >= 0 && sx < cs.w;
                                for (int ch = 0; ch < cs.c; ++ch)
                                    s += (in ? (double)x[(sy * cs.w + sx) * cs.c + ch] : 0.0) *
                                         W[((size_t)(dy * cs.k + dx) * cs.c + ch) * cs.f + f];
                            }
                        pre[(size_t)(y * cs.w + xx) * cs.f + f] = s;
                        pool[f] += (s <= 0 ? 0.0 : s) / hw; // ReLU keeps NaN
                    }
        }
        std::vector<double> z(N);
        int best = 0;
        for (int n = 0; n < N; ++n) {
            z[n] = db[n];
            for (int j = 0; j < in; ++j) z[n] += pool[j] * dk[(size_t)j * N + n];
            rlogits[(size_t)b * N + n] = z[n];
            if (z[n] > z[best]) best = n;
        }
        rcorrect += best == labels[b];
        double mz = *std::max_element(z.begin(), z.end()), se = 0;
        for (double v : z) se += std::exp(v - mz);
        double lse = mz + std::log(se), off = cs.smoothing / N, on = 1 - cs.smoothing + off;
        std::vector<double> dz(N), dpool(in, 0);
        for (int n = 0; n < N; ++n) {
            double t = n == labels[b] ? on : off;
            rloss -= t * (z[n] - lse);
            dz[n] = (std::exp(z[n] - lse) - t) / B;
            rdb[n] += dz[n];
            for (int j = 0; j < in; ++j) {
                rdk[(size_t)j * N + n] += pool[j] * dz[n];
                dpool[j] += dz[n] * dk[(size_t)j * N + n];
            }
        }
        if (cs.linear) continue;
        for (int y = 0; y < cs.h; ++y)
            for (int xx = 0; xx < cs.w; ++xx)
                for (int f = 0; f < cs.f; ++f) {
                    // The mask: active where > 0 (not where NaN), as head/cpu.go's.
                    if (!(pre[(size_t)(y * cs.w + xx) * cs.f + f] > 0)) continue;
                    double g = dpool[f] / hw;
                    rcb[f] += g;
                    for (int dy = 0; dy < cs.k; ++dy)
                        for (int dx = 0; dx < cs.k; ++dx) {
                            int sy = y + dy - pad, sx = xx + dx - pad;
                            const bool in = sy >= 0 && sy < cs.h && sx >= 0 && sx < cs.w;
                            for (int ch = 0; ch < cs.c; ++ch)
                                rW[((size_t)(dy * cs.k + dx) * cs.c + ch) * cs.f + f] += (in ? x[(sy * cs.w + sx) * cs.c + ch] : 0.0) * g;
                        }
                }
    }
    double gl = 0;
    int gc = 0;
    for (int b = 0; b < B; ++b) {
        gl += loss[b];
        gc += (int)correct[b];
    }
    const double eloss = !same_class(gl, rloss) ? INFINITY : std::isfinite(rloss) ? std::fabs(gl - rloss) / std::max(std::fabs(rloss), 1e-9) : 0;
    double e[6] = {relerr(logits, rlogits), eloss, relerr(gdk, rdk), relerr(gdb, rdb),
                   cs.linear ? 0 : relerr(gW, rW), cs.linear ? 0 : relerr(gcb, rcb)};
    bool ok = gc == rcorrect;
    for (double v : e) ok = ok && v <= 1e-4;
    std::printf("%-4s %-44s logits %.1e loss %.1e dense/kernel %.1e dense/bias %.1e conv/kernel %.1e conv/bias %.1e correct %d/%d\n",
                ok ? "ok" : "FAIL", cs.name, e[0], e[1], e[2], e[3], e[4], e[5], gc, rcorrect);
    return ok ? 0 : 1;
}

// The optimizer kernel against head/cpu_update.go's rules, 5 steps.
static int run_optimizer(int mode, const char *name) {
    const int n = 1000, decay_end = 700;
    std::mt19937_64 rng(7);
    std::normal_distribution<float> nd(0, 1);
    std::vector<float> p(n), s0(n, 0), s1(n, 0), g(n), rp, r0(n, 0), r1(n, 0);
    for (auto &x : p) x = nd(rng);
    rp = p;
    const float lr = 1e-3f, wd = 0.004f, mu = 0.9f, b1 = 0.9f, b2 = 0.999f, eps = 1e-7f, decay = lr * wd;
    for (int step = 1; step <= 5; ++step) {
        for (auto &x : g) x = nd(rng);
        float alpha = (float)(lr * std::sqrt(1 - std::pow((double)b2, step)) / (1 - std::pow((double)b1, step)));
        launch({cdiv(n, 256), 1, 1}, 256, [&] {
            optimizer_step(p.data(), g.data(), s0.data(), s1.data(), n, decay_end, mode, lr, decay, mu, alpha, 1 - b1, 1 - b2, eps);
        });
        for (int i = 0; i < n; ++i) {
            if (i < decay_end) rp[i] -= decay * rp[i];
            switch (mode) {
            case 0: rp[i] -= lr * g[i]; break;
            case 1: r0[i] = mu * r0[i] - lr * g[i]; rp[i] += r0[i]; break;
            case 2: r0[i] = mu * r0[i] - lr * g[i]; rp[i] += mu * r0[i] - lr * g[i]; break;
            default:
                r0[i] += (g[i] - r0[i]) * (1 - b1);
                r1[i] += (g[i] * g[i] - r1[i]) * (1 - b2);
                rp[i] -= alpha * r0[i] / (std::sqrt(r1[i]) + eps);
            }
        }
    }
    std::vector<double> want(rp.begin(), rp.end());
    double e = relerr(p, want);
    std::printf("%-4s optimizer %-35s params %.1e\n", e <= 1e-6 ? "ok" : "FAIL", name, e);
    return e <= 1e-6 ? 0 : 1;
}

// ---------------------------------------------------------------------------
// The tensor-core kernels (conv_fwd_tf32/bf16, conv_wgrad_tf32/bf16) on
// their own, against float64: each output must lie within
//     bound = (2 u + u^2) + (K + 2) 2^-23
// of the exact value, relative to S, the sum of the absolute values of
// its terms (|bias| included): u is the input rounding's unit (TF32 2^-11,
// BF16 2^-8; a product of two rounded inputs is off by at most 2u + u^2
// and exact in float32), and (K + 2) 2^-23 covers float32 sums of K
// products, the bias and split-K's partial sums, even truncating
// (docs/cuda.md). The same results must also miss the FP32 bound
// (K + 2) 2^-23 somewhere: else the inputs were not rounded at all.
struct TcCase {
    const char *name;
    int h, w, c, f, k, batch, samples, fsplits, wsplits;
};

// The SIMT GEMMs (conv_fwd, conv_wgrad) in the non-finite checks.
#define PREC_FP32 2
static const char *prec_name(int prec) { return prec == PREC_TF32 ? "tf32" : prec == PREC_BF16 ? "bf16" : "fp32"; }

// worst_rel is max |got - want| / S over the outputs whose want is
// finite, and +Inf when any output is not of want's class (same_class).
static double worst_rel(const std::vector<float> &got, const std::vector<double> &want, const std::vector<double> &s) {
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (!same_class(got[i], want[i])) return INFINITY;
        if (std::isfinite(want[i])) worst = std::max(worst, std::fabs(got[i] - want[i]) / std::max(s[i], 1e-30));
    }
    return worst;
}

// GEMM inputs and outputs of one case: the forward (bias and ReLU
// included) and the weight gradient of dz.
struct Gemms {
    std::vector<float> feats, W, bias, dz, act, gW;
    std::vector<int> idx;
    int fsplits = 0, wsplits = 0;
};

static Gemms gemm_inputs(const TcCase &cs, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd(0, 1);
    const int hw = cs.h * cs.w, kdim = cs.k * cs.k * cs.c, M = cs.batch * hw;
    Gemms g;
    g.feats.resize((size_t)cs.samples * hw * cs.c);
    g.W.resize((size_t)kdim * cs.f);
    g.bias.resize(cs.f);
    g.dz.resize((size_t)M * cs.f);
    for (auto *v : {&g.feats, &g.W, &g.bias, &g.dz})
        for (auto &x : *v) x = nd(rng);
    g.idx.resize(cs.batch);
    for (auto &i : g.idx) i = (int)(rng() % cs.samples);
    return g;
}

// run_gemms runs the forward and weight-gradient kernels of prec (the
// tensor-core ones, or the SIMT ones for PREC_FP32) as gpu/ops.go does,
// split-K reductions included.
static void run_gemms(const TcCase &cs, int prec, Gemms &g) {
    const int hw = cs.h * cs.w, kdim = cs.k * cs.k * cs.c, B = cs.batch, M = B * hw, step = prec == PREC_FP32 ? 8 : 16;
    auto slice_of = [&](int reduce, int splits, int &n) {
        int steps = (reduce + step - 1) / step, slice = (steps + splits - 1) / splits * step;
        n = (reduce + slice - 1) / slice;
        return slice;
    };
    g.act.assign((size_t)M * cs.f, 0);
    int fslice = slice_of(kdim, cs.fsplits, g.fsplits);
    std::vector<float> ws((size_t)g.fsplits * M * cs.f, 0);
    float *out = g.fsplits > 1 ? ws.data() : g.act.data();
    launch({cdiv(cs.f, 128), cdiv(M, 128), (unsigned)g.fsplits}, 256, [&] {
        auto fn = prec == PREC_TF32 ? conv_fwd_tf32 : prec == PREC_BF16 ? conv_fwd_bf16 : conv_fwd;
        fn(g.feats.data(), g.idx.data(), g.W.data(), g.bias.data(), out, B, cs.h, cs.w, cs.c, cs.f, cs.k, fslice, g.fsplits == 1);
    });
    if (g.fsplits > 1)
        launch({cdiv((ll)M * cs.f, 256), 1, 1}, 256,
               [&] { splitk_reduce(ws.data(), g.bias.data(), g.act.data(), M, cs.f, g.fsplits, 1); });
    g.gW.assign((size_t)kdim * cs.f, 0);
    int wslice = slice_of(M, cs.wsplits, g.wsplits);
    ws.assign((size_t)g.wsplits * kdim * cs.f, 0);
    out = g.wsplits > 1 ? ws.data() : g.gW.data();
    launch({cdiv(cs.f, 128), cdiv(kdim, 128), (unsigned)g.wsplits}, 256, [&] {
        auto fn = prec == PREC_TF32 ? conv_wgrad_tf32 : prec == PREC_BF16 ? conv_wgrad_bf16 : conv_wgrad;
        fn(g.feats.data(), g.idx.data(), g.dz.data(), out, B, cs.h, cs.w, cs.c, cs.f, cs.k, wslice);
    });
    if (g.wsplits > 1)
        launch({cdiv((ll)kdim * cs.f, 256), 1, 1}, 256, [&] { splitk_reduce(ws.data(), nullptr, g.gW.data(), kdim, cs.f, g.wsplits, 0); });
}

// Reference: in float64, every output's value and the sum of the absolute
// values of its terms; the forward's with the bias and ReLU. Taps outside
// the image are products with 0, as in the kernels' zero-filled tiles
// (0 x Inf is NaN there too).
struct Ref {
    std::vector<double> fv, fa, wv, wa;
};
static Ref reference(const TcCase &cs, const Gemms &g) {
    const int hw = cs.h * cs.w, fs = hw * cs.c, kdim = cs.k * cs.k * cs.c, M = cs.batch * hw, pad = cs.k / 2;
    Ref r{std::vector<double>((size_t)M * cs.f), std::vector<double>((size_t)M * cs.f), std::vector<double>((size_t)kdim * cs.f),
          std::vector<double>((size_t)kdim * cs.f)};
    for (int row = 0; row < M; ++row) {
        const int b = row / hw, p = row % hw, y = p / cs.w, x = p % cs.w;
        const float *s = g.feats.data() + (size_t)g.idx[b] * fs;
        for (int dy = 0; dy < cs.k; ++dy)
            for (int dx = 0; dx < cs.k; ++dx) {
                const int sy = y + dy - pad, sx = x + dx - pad;
                const bool in = sy >= 0 && sy < cs.h && sx >= 0 && sx < cs.w;
                for (int ch = 0; ch < cs.c; ++ch) {
                    const double a = in ? s[(sy * cs.w + sx) * cs.c + ch] : 0.0;
                    const size_t kk = (size_t)(dy * cs.k + dx) * cs.c + ch;
                    for (int f = 0; f < cs.f; ++f) {
                        const double pf = a * g.W[kk * cs.f + f], pw = a * g.dz[(size_t)row * cs.f + f];
                        r.fv[(size_t)row * cs.f + f] += pf;
                        r.fa[(size_t)row * cs.f + f] += std::fabs(pf);
                        r.wv[kk * cs.f + f] += pw;
                        r.wa[kk * cs.f + f] += std::fabs(pw);
                    }
                }
            }
    }
    for (size_t i = 0; i < r.fv.size(); ++i) {
        const double bv = g.bias[i % cs.f], v = r.fv[i] + bv;
        r.fv[i] = v <= 0 ? 0.0 : v; // ReLU keeps NaN (head.cu's relu); it is 1-Lipschitz: the bound stands
        r.fa[i] += std::fabs(bv);
    }
    return r;
}

static int run_tc(const TcCase &cs, int prec) {
    Gemms g = gemm_inputs(cs, 11);
    run_gemms(cs, prec, g);
    const Ref r = reference(cs, g);
    const int kdim = cs.k * cs.k * cs.c, M = cs.batch * cs.h * cs.w;
    const double u = prec == PREC_TF32 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
    auto check = [&](const std::vector<float> &got, const std::vector<double> &v, const std::vector<double> &a, int K) {
        const double acc = (K + 2) * std::ldexp(1.0, -23), bound = 2 * u + u * u + acc, worst = worst_rel(got, v, a);
        return std::make_pair(worst / bound, worst / acc);
    };
    auto [fr, f32f] = check(g.act, r.fv, r.fa, kdim);
    auto [wr, f32w] = check(g.gW, r.wv, r.wa, M);
    const bool ok = fr <= 1 && wr <= 1 && f32f > 1 && f32w > 1;
    std::printf("%-4s %-5s %-40s fwd %d split(s) error/bound %.3f (x%.0f the fp32 bound)  wgrad %d split(s) %.3f (x%.0f)\n",
                ok ? "ok" : "FAIL", prec_name(prec), cs.name, g.fsplits, fr, f32f, g.wsplits, wr, f32w);
    return ok ? 0 : 1;
}

// run_nonfinite plants NaN and Inf in both operands of both GEMMs (CUDA's
// canonical NaN 0x7fffffff and 0xffffffff, 0x7f800001 whose payload is
// all in TF32's dropped bits, and +-Inf) and checks every output's class
// against float64: NaN where it is NaN, the same infinity, finite (and
// within the bound) where it is finite. The GPU must not lose a NaN that
// the CPU would stop on.
static int run_nonfinite(const TcCase &cs, int prec) {
    Gemms g = gemm_inputs(cs, 13);
    const int hw = cs.h * cs.w, fs = hw * cs.c, kdim = cs.k * cs.k * cs.c, M = cs.batch * hw;
    auto plant = [](float &x, uint32_t bits) { std::memcpy(&x, &bits, 4); };
    const int s0 = g.idx[0], s1 = g.idx[cs.batch - 1];
    plant(g.feats[(size_t)s0 * fs + 1], 0x7fffffffu);                      // sample idx[0], pixel (0, 0)
    plant(g.feats[(size_t)s1 * fs + (size_t)(hw - 1) * cs.c + 2], 0x7f800001u); // its last pixel
    plant(g.feats[(size_t)s1 * fs + (size_t)(hw / 2) * cs.c + 3], 0x7f800000u); // +Inf, mid-image
    plant(g.W[(size_t)(kdim / 2) * cs.f + 1], 0xffffffffu);                  // centre tap, filter 1
    plant(g.W[(size_t)3 * cs.f + 3], 0xff800000u);                           // -Inf, filter 3
    plant(g.dz[(size_t)2 * cs.f + 2], 0x7fffffffu);                          // row 2, filter 2
    plant(g.dz[(size_t)(M - 1) * cs.f + 0], 0x7f800000u);                    // +Inf, last row
    run_gemms(cs, prec, g);
    const Ref r = reference(cs, g);
    // Finite outputs within the precision's bound (FP32: the float32
    // summation bound alone).
    const double u = prec == PREC_TF32 ? std::ldexp(1.0, -11) : prec == PREC_BF16 ? std::ldexp(1.0, -8) : 0;
    auto ratio = [&](const std::vector<float> &got, const std::vector<double> &v, const std::vector<double> &a, int K) {
        return worst_rel(got, v, a) / (2 * u + u * u + (K + 2) * std::ldexp(1.0, -23));
    };
    auto nonfinite = [](const std::vector<double> &v) { return std::count_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }); };
    const double fr = ratio(g.act, r.fv, r.fa, kdim), wr = ratio(g.gW, r.wv, r.wa, M);
    const long fn = nonfinite(r.fv), wn = nonfinite(r.wv);
    // The planted values must leave some outputs finite and make others not.
    const bool ok = fr <= 1 && wr <= 1 && fn > 0 && fn < (long)r.fv.size() && wn > 0 && wn < (long)r.wv.size();
    std::printf("%-4s %-5s NaN/Inf planted: %-24s fwd %ld/%zu non-finite, error/bound %.3f  wgrad %ld/%zu non-finite, %.3f\n",
                ok ? "ok" : "FAIL", prec_name(prec), cs.name, fn, r.fv.size(), fr, wn, r.wv.size(), wr);
    return ok ? 0 : 1;
}

// The checkers themselves: a NaN where float64 has a number (or the
// reverse), or the wrong infinity, must fail however small every other
// error is.
static int check_checkers() {
    const std::vector<double> want{1, 2, 3}, s{1, 1, 1};
    const std::vector<float> good{1, 2, 3}, nan1{1, NAN, 3}, inf1{1, INFINITY, 3};
    const std::vector<double> wantnan{1, NAN, 3}, wantinf{1, -INFINITY, 3};
    const bool ok = relerr(good, want) == 0 && worst_rel(good, want, s) == 0 && !(relerr(nan1, want) <= 1) &&
                    !(worst_rel(nan1, want, s) <= 1) && !(relerr(inf1, want) <= 1) && !(worst_rel(inf1, want, s) <= 1) &&
                    !(relerr(good, wantnan) <= 1) && !(worst_rel(good, wantnan, s) <= 1) && relerr(nan1, wantnan) == 0 &&
                    worst_rel(nan1, wantnan, s) == 0 && !(worst_rel(inf1, wantinf, s) <= 1);
    std::printf("%-4s the checkers fail a NaN or Inf that float64 does not have, and the reverse\n", ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}

// Shared-memory bank conflicts of the tensor-core fragment reads, from the
// accessors themselves (FwdA, WgA, TileB): a stage whose every float holds
// its own offset turns each read into its address. A warp's scalar load
// (LDS.32) is conflict-free when its 32 lanes' distinct addresses fall in
// 32 distinct banks; a 64-bit load (LDS.64) is served a half-warp at a
// time, each half conflict-free when its 16 lanes' distinct 8-byte words
// fall in distinct bank pairs. The degree is the most distinct addresses
// (words) one bank serves. The TF32 reads must be conflict-free, and the
// forward's BF16 A reads, which nvcc merges into 64-bit pairs; the other
// BF16 reads (scalar loads, the pair K rows apart) are 2-way, printed.
struct BankDegree {
    int scalar = 0, pair = 0;
};
static int degree(const std::vector<int> &addr, int lanes, int words) {
    int worst = 0;
    for (int first = 0; first < 32; first += lanes) {
        std::vector<std::vector<int>> bank(32);
        for (int l = first; l < first + lanes; ++l)
            for (int w = 0; w < words; ++w) {
                auto &b = bank[(addr[l] + w) % 32];
                if (std::find(b.begin(), b.end(), addr[l] / words) == b.end()) b.push_back(addr[l] / words);
            }
        for (auto &b : bank) worst = std::max(worst, (int)b.size());
    }
    return worst;
}
static int check_banks() {
    std::vector<float> stage(TC_M * TC_K);
    for (size_t i = 0; i < stage.size(); ++i) stage[i] = (float)i;
    const float *s = stage.data();
    BankDegree tf[3], bf[3]; // forward A, weight-gradient A, B
    auto note = [](BankDegree &d, const std::vector<int> &addr, bool pairs) {
        d.scalar = std::max(d.scalar, degree(addr, 32, 1));
        if (pairs) d.pair = std::max(d.pair, degree(addr, 16, 2));
    };
    for (int wm = 0; wm < 2; ++wm)
        for (int wn = 0; wn < 4; ++wn) {
            std::vector<FwdA> fa;
            std::vector<WgA> wa;
            std::vector<TileB> tb;
            for (int lane = 0; lane < 32; ++lane) {
                fa.emplace_back(wm * 64, lane);
                wa.emplace_back(wm * 64, lane);
                tb.emplace_back(wn * 32, lane);
            }
            std::vector<int> addr(32);
            for (int mi = 0; mi < 4; ++mi)
                for (int h = 0; h < 2; ++h) {
                    for (int c = 0; c < 4; ++c) {
                        for (int l = 0; l < 32; ++l) addr[l] = (int)fa[l].tf(s, mi, h, c);
                        note(tf[0], addr, false);
                        for (int l = 0; l < 32; ++l) addr[l] = (int)wa[l].tf(s, mi, h, c);
                        note(tf[1], addr, false);
                    }
                    for (int h2 = 0; h2 < 2; ++h2)
                        for (int j = 0; j < 2; ++j) {
                            for (int l = 0; l < 32; ++l) addr[l] = (int)fa[l].bf(s, mi, h, h2, j);
                            note(bf[0], addr, j == 0); // j = 0, 1 adjacent: a pair when j = 0
                            for (int l = 0; l < 32; ++l) addr[l] = (int)wa[l].bf(s, mi, h, h2, j);
                            note(bf[1], addr, false); // K rows apart: never a pair
                        }
                }
            for (int ni = 0; ni < 4; ++ni) {
                for (int c = 0; c < 4; ++c) {
                    for (int l = 0; l < 32; ++l) addr[l] = (int)tb[l].tf(s, ni, c);
                    note(tf[2], addr, false);
                }
                for (int h2 = 0; h2 < 2; ++h2)
                    for (int j = 0; j < 2; ++j) {
                        for (int l = 0; l < 32; ++l) addr[l] = (int)tb[l].bf(s, ni, h2, j);
                        note(bf[2], addr, false);
                    }
            }
        }
    const bool ok = tf[0].scalar == 1 && tf[1].scalar == 1 && tf[2].scalar == 1 && bf[0].pair == 1;
    std::printf("%-4s shared-memory banks, ways per fragment load: tf32 fwd A %d, wgrad A %d, B %d; bf16 (scalar loads) fwd A %d, "
                "wgrad A %d, B %d; bf16 fwd A as 64-bit pairs %d\n",
                ok ? "ok" : "FAIL", tf[0].scalar, tf[1].scalar, tf[2].scalar, bf[0].scalar, bf[1].scalar, bf[2].scalar, bf[0].pair);
    return ok ? 0 : 1;
}

// Usage: kernel-emu [small|tc]. "small" runs only the few small cases
// (for ThreadSanitizer and UBSan, where each emulated thread is
// expensive); "tc" only the tensor-core kernels' small cases, with and
// without NaN and Inf (mutants.sh).
int main(int argc, char **argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    const bool small = mode == "small" || mode == "tc", tconly = mode == "tc";
    int fails = check_checkers() + check_banks();
    const Case cases[] = {
        {"odd sizes", 5, 3, 7, 9, 3, 3, 6, 11, 1, 1, 0, false},
        {"odd sizes, split K 3 ways both GEMMs", 5, 3, 7, 9, 3, 3, 6, 11, 3, 3, 0, false},
        {"batch 1", 7, 7, 16, 32, 3, 10, 1, 3, 1, 1, 0, false},
        {"130 filters, batch 3 (partial tiles)", 3, 3, 11, 130, 3, 5, 3, 4, 2, 2, 0, false},
        {"kernel 1", 4, 4, 9, 17, 1, 2, 9, 9, 1, 1, 0, false},
        {"kernel 5 wider than the image", 3, 2, 6, 12, 5, 3, 5, 8, 1, 2, 0, false},
        {"1x1 image, 1 channel, 1 filter", 1, 1, 1, 1, 3, 2, 3, 4, 1, 1, 0, false},
        {"40 classes, label smoothing 0.1", 2, 3, 4, 8, 3, 40, 20, 25, 1, 1, 0.1, false},
        {"7x7x64 -> 40, 11 samples, 4 splits", 7, 7, 64, 40, 3, 10, 11, 12, 4, 4, 0, false},
        {"linear probe", 7, 7, 37, 0, 0, 5, 13, 20, 1, 1, 0, true},
        {"NaN in the conv kernel: NaN loss and gradients", 5, 3, 7, 9, 3, 3, 6, 11, 1, 1, 0, false, true},
        {"NaN in the conv kernel, split K 3 ways", 5, 3, 7, 9, 3, 3, 6, 11, 3, 3, 0, false, true},
    };
    // The small set: both GEMMs with and without split-K, partial tiles,
    // the warp-shuffle softmax and the linear probe.
    const char *smallCases[] = {"odd sizes", "odd sizes, split K 3 ways both GEMMs", "1x1 image, 1 channel, 1 filter", "linear probe",
                                "NaN in the conv kernel, split K 3 ways"};
    for (const auto &c : cases) {
        if (tconly) break;
        if (small && std::find_if(std::begin(smallCases), std::end(smallCases), [&](const char *n) { return std::string(n) == c.name; }) ==
                         std::end(smallCases))
            continue;
        fails += run(c);
    }
    const TcCase tcs[] = {
        {"odd sizes: partial tiles every way", 5, 3, 16, 12, 3, 6, 11, 1, 1},
        {"odd sizes, split K 3 ways both GEMMs", 5, 3, 16, 12, 3, 6, 11, 3, 3},
        {"7x7x64 -> 68, 5 samples, 2 splits", 7, 7, 64, 68, 3, 5, 6, 2, 2},
        {"4x4x32 -> 136 (two column tiles), batch 9", 4, 4, 32, 136, 3, 9, 10, 1, 2},
        {"kernel 1, 32 channels", 4, 4, 32, 8, 1, 9, 9, 1, 1},
        {"kernel 5 wider than the image", 3, 2, 16, 4, 5, 5, 8, 1, 2},
        {"1x1 image, 16 channels, 4 filters", 1, 1, 16, 4, 3, 20, 23, 1, 1},
    };
    for (const auto &c : tcs) {
        if (small && c.name != tcs[1].name) continue;
        for (int prec : {PREC_TF32, PREC_BF16}) fails += run_tc(c, prec);
    }
    // NaN and Inf through every GEMM kernel and precision, with the
    // epilogue's ReLU and with split-K's.
    for (const auto &c : {tcs[0], tcs[1]}) {
        if (small && c.name != tcs[1].name) continue;
        for (int prec : {PREC_TF32, PREC_BF16, PREC_FP32})
            if (!tconly || prec != PREC_FP32) fails += run_nonfinite(c, prec);
    }
    const char *names[] = {"sgd", "sgd momentum", "sgd nesterov", "adam(w)"};
    for (int m = 0; m < 4; ++m)
        if (!tconly && (!small || m == 3)) fails += run_optimizer(m, names[m]);
    std::printf("%s\n", fails ? "FAIL" : "PASS");
    return fails ? 1 : 0;
}
