// Package tfevents writes TensorBoard event files: the file TensorBoard
// finds in a run directory (events.out.tfevents.<seconds>.<host>), a
// TFRecord stream of tensorflow.Event protos whose first record carries
// the file version "brain.Event:2" and whose other records hold scalar
// summaries (loss, accuracy, learning rate per step) and text summaries
// (markdown for TensorBoard's text plugin, such as a run's config). The protos are
// encoded with protowire; nothing here needs TensorFlow.
package tfevents
