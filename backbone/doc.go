// Package backbone defines the frozen feature extractor graft grafts a head
// onto: the Backbone interface the rest of graft uses, whatever engine runs
// the SavedModel underneath.
//
// Subpackages: savedmodel reads (and writes) SavedModels as TensorFlow
// does and flattens their graphs; native runs those graphs in pure Go;
// tensor is the host tensor value they exchange; tf runs the same flat
// graphs through libtensorflow (tensorflow build tag; a stub otherwise);
// engine picks native or tf by name.
// A backbone knows nothing about heads or jobs.
package backbone
