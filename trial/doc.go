// Package trial owns trial definitions: what a trial is (its sites,
// visits, de-identification profile, QC rules and read design, validated
// with messages naming the field path), and their storage as immutable,
// numbered versions, each change with its reason and each approval an
// electronic signature over the stored bytes (Service).
//
// Only a data manager of a trial defines, changes and approves it; anyone
// who takes part in the trial reads it; every refusal is recorded on the
// trial's chain (auth.Require). A trial that does not exist is not found
// (trialgate.ENotFound "no trial <id>"), whoever asks, and its refusals go
// to the system chain: only its definition (Create) starts its chain. The engines that apply a definition own
// their part of it: package deid its Config, package qc its Rules.
package trial
