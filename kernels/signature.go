package kernels

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Source is head.cu itself, for readers of its kernels' signatures (the
// fake driver of package gpu checks every launch against them).
//
//go:embed head.cu
var Source string

// Param is one kernel parameter as head.cu declares it.
type Param struct {
	Name    string
	Type    string // without const and __restrict__, e.g. "float *", "i64"
	Pointer bool
	Size    int // bytes the launcher must pass
	// Const is a pointer to const: the kernel only reads through it (the
	// fake driver orders reads and writes of buffers across streams by it).
	Const bool
}

// Signature is one extern "C" kernel of head.cu.
type Signature struct {
	Name   string
	Params []Param
	// MaxThreads is the __launch_bounds__ block size limit; 0 when the
	// kernel declares none (the device's limit applies).
	MaxThreads int
}

var (
	kernelRE = regexp.MustCompile(`extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\(\s*(\w+)\s*(?:,\s*\w+\s*)?\)\s*)?(\w+)\s*\(([^)]*)\)`)
	defineRE = regexp.MustCompile(`(?m)^#define\s+(\w+)\s+(\d+)\s*$`)
)

// scalarSizes are the scalar types head.cu's kernels may take.
var scalarSizes = map[string]int{"i64": 8, "long long": 8, "double": 8, "int": 4, "float": 4, "unsigned": 4}

// Signatures parses the kernels' signatures out of head.cu's source.
func Signatures(src string) (map[string]Signature, error) {
	defines := map[string]int{}
	for _, m := range defineRE.FindAllStringSubmatch(src, -1) {
		defines[m[1]], _ = strconv.Atoi(m[2])
	}
	out := map[string]Signature{}
	for _, m := range kernelRE.FindAllStringSubmatch(src, -1) {
		sig := Signature{Name: m[2]}
		if m[1] != "" {
			n, err := strconv.Atoi(m[1])
			if err != nil {
				var ok bool
				if n, ok = defines[m[1]]; !ok {
					return nil, fmt.Errorf("kernels: %s: launch bound %q is neither a number nor a #define", sig.Name, m[1])
				}
			}
			sig.MaxThreads = n
		}
		for _, raw := range strings.Split(m[3], ",") {
			p, err := parseParam(raw)
			if err != nil {
				return nil, fmt.Errorf("kernels: %s: %w", sig.Name, err)
			}
			sig.Params = append(sig.Params, p)
		}
		if _, dup := out[sig.Name]; dup {
			return nil, fmt.Errorf("kernels: kernel %s declared twice", sig.Name)
		}
		out[sig.Name] = sig
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("kernels: no extern \"C\" __global__ kernels in the source")
	}
	return out, nil
}

func parseParam(raw string) (Param, error) {
	f := strings.Fields(strings.NewReplacer("*", " * ", "__restrict__", " ", "const", " ").Replace(raw))
	if len(f) < 2 {
		return Param{}, fmt.Errorf("parameter %q has no type and name", strings.TrimSpace(raw))
	}
	p := Param{Name: f[len(f)-1], Type: strings.Join(f[:len(f)-1], " ")}
	if strings.Contains(p.Type, "*") {
		p.Pointer, p.Size = true, 8
		p.Const = slices.Contains(strings.Fields(strings.NewReplacer("*", " * ").Replace(raw)), "const")
		return p, nil
	}
	size, ok := scalarSizes[p.Type]
	if !ok {
		return Param{}, fmt.Errorf("parameter %s has type %q, which the signature reader does not know", p.Name, p.Type)
	}
	p.Size = size
	return p, nil
}
