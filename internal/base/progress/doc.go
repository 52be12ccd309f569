// Package progress renders a training job's events: progress bars on a
// terminal (feature extraction with images/s and ETA, then each epoch's
// steps with ETA, loss and accuracy), one line per finished stage, and
// JSON lines otherwise (which is also what the daemon's workers stream).
package progress
