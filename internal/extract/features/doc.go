// Package features runs a data set through the frozen backbone once: it
// hashes every sample's encoded bytes, takes what the feature cache
// already holds, decodes and runs only the rest, and stores their features
// for the next run. It reports where the time went.
package features
