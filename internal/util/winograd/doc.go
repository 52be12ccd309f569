// Package winograd holds Winograd's minimal filtering F(m x m, 3 x 3): the
// transforms, built from interpolation points by Toom-Cook, and Comb, the
// one vector loop every transform runs on (a short linear combination of
// whole channel vectors). The native engine's constant-filter convolutions
// and the head's trained 3x3 conv both build on it.
package winograd
