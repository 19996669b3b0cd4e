package dicom

import "errors"

// Errors returned by Parse, Write, WriteAs and ReadFrames, always
// wrapped with a message that names the tag, offset, frame or UID at
// fault. Test for them with errors.Is.
var (
	// ErrNotDICOM means the input has neither a DICOM preamble ("DICM" at
	// offset 128) nor a bare file meta group at its start.
	ErrNotDICOM = errors.New("not DICOM")
	// ErrTruncated means the input ended inside an element, item or
	// sequence (including inside Pixel Data while writing).
	ErrTruncated = errors.New("truncated")
	// ErrUnsupported means the transfer syntax is not one this package
	// reads and writes.
	ErrUnsupported = errors.New("unsupported transfer syntax")
	// ErrMalformed means the input violates the encoding rules of PS3.5:
	// odd or inconsistent lengths, nesting deeper than Limits.MaxDepth,
	// item tags where none may be, invalid VRs and the like.
	ErrMalformed = errors.New("malformed")
	// ErrTooLarge means an element value, or the header as a whole,
	// exceeds Limits.MaxHeader.
	ErrTooLarge = errors.New("header too large")
	// ErrNoFrame means a frame number asked of ReadFrames is not one of
	// the object's (see Object.NumberOfFrames).
	ErrNoFrame = errors.New("no such frame")
)
