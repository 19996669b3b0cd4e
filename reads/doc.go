// Package reads owns blinded central reads: the read design of a trial
// (single or double read with adjudication, which time points form a case,
// how the reader is blinded), the read form a reader fills in and the
// values the gateway derives from it, reader assignment, read versions and
// their signatures, and adjudication.
//
// The design and the forms are pure: ParseDesign turns the "reads" section
// of a trial definition into a Design, refusing anything it does not know
// with an EInvalid error naming the field path; (*Form).Validate checks and
// normalises a reader's values and fills in the derived fields, such as the
// RECIST 1.1 sum of diameters and time-point response (RECIST11).
// Storage, audit and authorisation are the service's business, not theirs.
package reads
