// Runs head.cu's kernels on the CPU (emu.h) in the order gpu/ops.go
// launches them and compares every result with a naive float64 reference.
// Build and run: scripts/kernel-emu/run.sh
#include "emu.h"
#include "../../kernels/head.cu"

#include <cstdio>
#include <random>
#include <string>

typedef long long ll;

struct Case {
    const char *name;
    int h, w, c, f, k, classes, batch, samples, fsplits, wsplits;
    double smoothing;
    bool linear;
};

static double relerr(const std::vector<float> &got, const std::vector<double> &want) {
    double d = 0, s = 0;
    for (size_t i = 0; i < want.size(); ++i) {
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
                                int sy = y + dy - pad, sx = xx + dx - pad;
                                if (sy < 0 || sy >= cs.h || sx < 0 || sx >= cs.w) continue;
                                for (int ch = 0; ch < cs.c; ++ch)
                                    s += (double)x[(sy * cs.w + sx) * cs.c + ch] * W[((size_t)(dy * cs.k + dx) * cs.c + ch) * cs.f + f];
                            }
                        pre[(size_t)(y * cs.w + xx) * cs.f + f] = s;
                        pool[f] += std::max(s, 0.0) / hw;
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
                    if (pre[(size_t)(y * cs.w + xx) * cs.f + f] <= 0) continue;
                    double g = dpool[f] / hw;
                    rcb[f] += g;
                    for (int dy = 0; dy < cs.k; ++dy)
                        for (int dx = 0; dx < cs.k; ++dx) {
                            int sy = y + dy - pad, sx = xx + dx - pad;
                            if (sy < 0 || sy >= cs.h || sx < 0 || sx >= cs.w) continue;
                            for (int ch = 0; ch < cs.c; ++ch)
                                rW[((size_t)(dy * cs.k + dx) * cs.c + ch) * cs.f + f] += x[(sy * cs.w + sx) * cs.c + ch] * g;
                        }
                }
    }
    double gl = 0;
    int gc = 0;
    for (int b = 0; b < B; ++b) {
        gl += loss[b];
        gc += (int)correct[b];
    }
    double e[6] = {relerr(logits, rlogits), std::fabs(gl - rloss) / std::max(std::fabs(rloss), 1e-9), relerr(gdk, rdk), relerr(gdb, rdb),
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

static int run_tc(const TcCase &cs, int prec) {
    std::mt19937_64 rng(11);
    std::normal_distribution<float> nd(0, 1);
    const int hw = cs.h * cs.w, fs = hw * cs.c, kdim = cs.k * cs.k * cs.c, B = cs.batch, M = B * hw, pad = cs.k / 2;
    std::vector<float> feats((size_t)cs.samples * fs), W((size_t)kdim * cs.f), bias(cs.f), dz((size_t)M * cs.f);
    for (auto *v : {&feats, &W, &bias, &dz})
        for (auto &x : *v) x = nd(rng);
    std::vector<int> idx(B);
    for (auto &i : idx) i = (int)(rng() % cs.samples);
    auto slice16 = [](int reduce, int splits, int &n) {
        int steps = (reduce + 15) / 16, slice = (steps + splits - 1) / splits * 16;
        n = (reduce + slice - 1) / slice;
        return slice;
    };
    // Forward, with the bias and ReLU in the epilogue or in splitk_reduce.
    std::vector<float> act((size_t)M * cs.f), ws;
    int fsplits, wsplits;
    int fslice = slice16(kdim, cs.fsplits, fsplits);
    ws.assign((size_t)fsplits * M * cs.f, 0);
    float *out = fsplits > 1 ? ws.data() : act.data();
    launch({cdiv(cs.f, 128), cdiv(M, 128), (unsigned)fsplits}, 256, [&] {
        (prec == PREC_TF32 ? conv_fwd_tf32 : conv_fwd_bf16)(feats.data(), idx.data(), W.data(), bias.data(), out, B, cs.h, cs.w,
                                                            cs.c, cs.f, cs.k, fslice, fsplits == 1);
    });
    if (fsplits > 1)
        launch({cdiv((ll)M * cs.f, 256), 1, 1}, 256, [&] { splitk_reduce(ws.data(), bias.data(), act.data(), M, cs.f, fsplits, 1); });
    // Weight gradient of dz.
    std::vector<float> gW((size_t)kdim * cs.f);
    int wslice = slice16(M, cs.wsplits, wsplits);
    ws.assign((size_t)wsplits * kdim * cs.f, 0);
    out = wsplits > 1 ? ws.data() : gW.data();
    launch({cdiv(cs.f, 128), cdiv(kdim, 128), (unsigned)wsplits}, 256, [&] {
        (prec == PREC_TF32 ? conv_wgrad_tf32 : conv_wgrad_bf16)(feats.data(), idx.data(), dz.data(), out, B, cs.h, cs.w, cs.c, cs.f,
                                                                cs.k, wslice);
    });
    if (wsplits > 1)
        launch({cdiv((ll)kdim * cs.f, 256), 1, 1}, 256, [&] { splitk_reduce(ws.data(), nullptr, gW.data(), kdim, cs.f, wsplits, 0); });

    // float64: value and sum of absolute terms of every output.
    std::vector<double> fv((size_t)M * cs.f), fa(fv.size()), wv(gW.size(), 0), wa(gW.size(), 0);
    for (int r = 0; r < M; ++r) {
        const int b = r / hw, p = r % hw, y = p / cs.w, x = p % cs.w;
        const float *s = feats.data() + (size_t)idx[b] * fs;
        for (int dy = 0; dy < cs.k; ++dy)
            for (int dx = 0; dx < cs.k; ++dx) {
                const int sy = y + dy - pad, sx = x + dx - pad;
                if (sy < 0 || sy >= cs.h || sx < 0 || sx >= cs.w) continue;
                for (int ch = 0; ch < cs.c; ++ch) {
                    const double a = s[(sy * cs.w + sx) * cs.c + ch];
                    const size_t kk = (size_t)(dy * cs.k + dx) * cs.c + ch;
                    for (int f = 0; f < cs.f; ++f) {
                        fv[(size_t)r * cs.f + f] += a * W[kk * cs.f + f];
                        fa[(size_t)r * cs.f + f] += std::fabs(a * W[kk * cs.f + f]);
                        wv[kk * cs.f + f] += a * dz[(size_t)r * cs.f + f];
                        wa[kk * cs.f + f] += std::fabs(a * dz[(size_t)r * cs.f + f]);
                    }
                }
            }
    }
    const double u = prec == PREC_TF32 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
    auto check = [&](const std::vector<float> &got, const std::vector<double> &v, const std::vector<double> &a, int K, bool relu,
                     const std::vector<float> *bias_) {
        const double acc = (K + 2) * std::ldexp(1.0, -23), bound = 2 * u + u * u + acc;
        double worst = 0, over_fp32 = 0;
        for (size_t i = 0; i < got.size(); ++i) {
            double want = v[i], s = a[i];
            if (bias_) {
                const double bv = (*bias_)[i % cs.f];
                want += bv;
                s += std::fabs(bv);
            }
            if (relu) want = std::max(want, 0.0); // ReLU is 1-Lipschitz: the bound stands
            const double e = std::fabs(got[i] - want) / std::max(s, 1e-30);
            worst = std::max(worst, e);
            over_fp32 = std::max(over_fp32, e / acc);
        }
        return std::make_pair(worst / bound, over_fp32);
    };
    auto [fr, f32f] = check(act, fv, fa, kdim, true, &bias);
    auto [wr, f32w] = check(gW, wv, wa, M, false, nullptr);
    const bool ok = fr <= 1 && wr <= 1 && f32f > 1 && f32w > 1;
    std::printf("%-4s %-5s %-40s fwd %d split(s) error/bound %.3f (x%.0f the fp32 bound)  wgrad %d split(s) %.3f (x%.0f)\n",
                ok ? "ok" : "FAIL", prec == PREC_TF32 ? "tf32" : "bf16", cs.name, fsplits, fr, f32f, wsplits, wr, f32w);
    return ok ? 0 : 1;
}

// Usage: kernel-emu [small]. "small" runs only the few small cases
// (for ThreadSanitizer, where each emulated thread is expensive).
int main(int argc, char **argv) {
    const bool small = argc > 1 && std::string(argv[1]) == "small";
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
    };
    // The small set: both GEMMs with and without split-K, partial tiles,
    // the warp-shuffle softmax and the linear probe.
    const char *smallCases[] = {"odd sizes", "odd sizes, split K 3 ways both GEMMs", "1x1 image, 1 channel, 1 filter", "linear probe"};
    int fails = 0;
    for (const auto &c : cases) {
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
    const char *names[] = {"sgd", "sgd momentum", "sgd nesterov", "adam(w)"};
    for (int m = 0; m < 4; ++m)
        if (!small || m == 3) fails += run_optimizer(m, names[m]);
    std::printf("%s\n", fails ? "FAIL" : "PASS");
    return fails ? 1 : 0;
}
