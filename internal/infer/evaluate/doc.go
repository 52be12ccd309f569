// Package evaluate scores a classifier's predictions against labels:
// accuracy, per-class precision, recall and F1, and the confusion matrix,
// for `graft eval`.
package evaluate
