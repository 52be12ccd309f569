package gemm

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBF16Bits(t *testing.T) {
	// Hand-computed: bf16 keeps 8 significant bits, so 1+2^-8 is a tie
	// between 1 and 1+2^-7 (to even: 1), 1+3*2^-8 a tie between 1+2^-7
	// and 1+2^-6 (to even: 1+2^-6).
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{0, 0},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1 + 1.0/256, 0x3f80},
		{1 + 1.0/256 + 1.0/(1<<20), 0x3f81},
		{1 + 3.0/256, 0x3f82},
		{1 + 1.0/128, 0x3f81},
		{float32(math.Inf(1)), 0x7f80},
		{float32(math.Inf(-1)), 0xff80},
		{math.MaxFloat32, 0x7f80},    // rounds up past the largest bf16
		{math.Float32frombits(1), 0}, // the smallest denormal rounds to 0
	} {
		if got := BF16Bits(c.in); got != c.want {
			t.Errorf("BF16Bits(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if got := RoundBF16(float32(math.NaN())); !math.IsNaN(float64(got)) {
		t.Errorf("RoundBF16(NaN) = %g", got)
	}
	if got := math.Float32frombits(0x7f800001); !math.IsNaN(float64(RoundBF16(got))) {
		t.Errorf("a NaN whose payload is in the low bits became %g", RoundBF16(got))
	}
}

// TestToBF16 checks the vector rounding against BF16Bits, value by value,
// on ties, NaNs (signalling ones too), infinities, denormals and a tail
// shorter than a vector.
func TestToBF16(t *testing.T) {
	special := []uint32{0x3f808000, 0x3f818000, 0x3f80ffff, 0x7f800001, 0xff800001, 0x7fc00000, 0x7f800000, 0xff800000,
		0x00000001, 0x007fffff, 0x80008000, 0x7f7fffff, 0xff7fffff, 0, 0x80000000, 0x3f7fffff, 0x4049ffff}
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]float32, 16*5+7)
	for i := range src {
		if i < len(special) {
			src[i] = math.Float32frombits(special[i])
		} else {
			src[i] = math.Float32frombits(rng.Uint32())
		}
	}
	dst := make([]uint16, len(src))
	ToBF16(dst, src)
	for i, v := range src {
		if want := BF16Bits(v); dst[i] != want {
			t.Errorf("ToBF16 of %#08x = %#04x, BF16Bits says %#04x", math.Float32bits(v), dst[i], want)
		}
	}
}

func TestBF16CheckRefuses(t *testing.T) {
	cases := []struct {
		name string
		f    CPUFeatures
		asm  bool
		want string // "" accepted
	}{
		{"avx512_bf16", CPUFeatures{AVX2: true, AVX512F: true, AVX512BF16: true}, true, ""},
		{"avx512f only", CPUFeatures{AVX2: true, AVX512F: true}, true, "this one has neither (its SIMD flags: avx2, avx512f)"},
		{"avx2 only", CPUFeatures{AVX2: true}, true, "AVX512_BF16 or AMX"},
		{"no asm", CPUFeatures{AVX512F: true, AVX512BF16: true}, false, "assembly"},
	}
	for _, c := range cases {
		err := bf16Check(c.f, c.asm)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !errors.Is(err, ErrNoBF16) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want ErrNoBF16 saying %q", c.name, err, c.want)
		}
	}
}

// TestPackedBF16MulAdd checks the bf16 kernel and its packing against a
// float64 product of the bf16-rounded inputs: the only difference allowed
// is float32 summation, at most one rounding per term (k products, C's
// start value and the pairwise sum) relative to the sum of magnitudes.
func TestPackedBF16MulAdd(t *testing.T) {
	if err := BF16Check(); err != nil {
		t.Skip(err)
	}
	for _, avx := range []bool{false, true} {
		old := noAMX
		noAMX = avx
		t.Run(BF16Kernel(), func(t *testing.T) { testPackedBF16MulAdd(t) })
		noAMX = old
	}
}

func testPackedBF16MulAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ m, n, k int }{
		{12, 32, 2}, {12, 32, 256}, {32, 32, 32}, {1, 1, 1}, {13, 33, 7}, {25, 70, 301}, {200, 64, 515}, {7, 100, 1}, {390, 96, 9}, {64, 64, 1100},
	} {
		for _, transA := range []bool{false, true} {
			lda, ldb, ldc := s.k+3, s.n+1, s.n+5
			if transA {
				lda = s.m + 2
			}
			a := randVals(rng, max(s.m, s.k)*lda)
			b := randVals(rng, s.k*ldb)
			c := randVals(rng, s.m*ldc)
			got := append([]float32(nil), c...)
			RepackBF16(nil, s.k, s.n, b, ldb).MulAdd(transA, s.m, a, lda, got, ldc)
			for i := 0; i < s.m; i++ {
				for j := 0; j < s.n; j++ {
					want, mag := float64(c[i*ldc+j]), math.Abs(float64(c[i*ldc+j]))
					for p := 0; p < s.k; p++ {
						av := a[i*lda+p]
						if transA {
							av = a[p*lda+i]
						}
						t := float64(RoundBF16(av)) * float64(RoundBF16(b[p*ldb+j]))
						want += t
						mag += math.Abs(t)
					}
					if d := math.Abs(float64(got[i*ldc+j]) - want); d > float64(s.k+2)*math.Ldexp(1, -23)*mag {
						t.Fatalf("%dx%dx%d transA=%v: C[%d,%d] = %g, want %g (off %g of %g)", s.m, s.n, s.k, transA, i, j, got[i*ldc+j], want, d, mag)
					}
				}
				for j := s.n; j < ldc && i*ldc+j < len(c); j++ { // the stride's gap is not written
					if got[i*ldc+j] != c[i*ldc+j] {
						t.Fatalf("%dx%dx%d: wrote C[%d,%d] outside n", s.m, s.n, s.k, i, j)
					}
				}
			}
		}
	}
}

// TestPackedBF16Rounds checks that the inputs are rounded, not truncated
// and not left in float32: 1+3*2^-8 rounds to 1+2^-6 (truncation gives
// 1+2^-7), and 1+2^-9 squared is exactly 1 once both are rounded.
func TestPackedBF16Rounds(t *testing.T) {
	if err := BF16Check(); err != nil {
		t.Skip(err)
	}
	a := []float32{1 + 3.0/256, 1 + 1.0/512}
	b := []float32{1, 1 + 1.0/512}
	c := make([]float32, 1)
	RepackBF16(nil, 2, 1, b, 1).MulAdd(false, 1, a, 2, c, 1)
	if want := float32(1+1.0/64) + 1; c[0] != want {
		t.Errorf("(1+3/256)*1 + (1+1/512)^2 = %v in bf16, want %v", c[0], want)
	}
}

func randVals(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// TestBF16AsmIsGenerated: bf16_amd64.s is scripts/asm/bf16enc.py's output
// (edit the generator, not the file); skipped without python3.
func TestBF16AsmIsGenerated(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	want, err := exec.Command(py, filepath.Join("..", "..", "..", "scripts", "asm", "bf16enc.py")).Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("bf16_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("bf16_amd64.s differs from scripts/asm/bf16enc.py's output: run scripts/asm/bf16enc.py > internal/util/gemm/bf16_amd64.s")
	}
}
