// Package trialgate holds the vocabulary every TrialGate package shares:
// the error type with its codes, which the api package maps to HTTP
// statuses in one table, and the grammar of the ids that name trials,
// sites, subjects and visits. It imports nothing of the module, so any
// package may import it.
package trialgate

import (
	"errors"
	"fmt"
)

// Error codes. They are stable: clients and tests match on them.
const (
	EInvalid       = "invalid"      // the request is malformed or fails validation
	EUnauthorized  = "unauthorized" // no or bad credentials
	EForbidden     = "forbidden"    // the caller may not do this
	ENotFound      = "not_found"    // the named thing does not exist (or is not visible)
	EConflict      = "conflict"     // the change conflicts with the current state
	ETooLarge      = "too_large"    // the request body exceeds its limit
	EMediaType     = "unsupported_media_type"
	ENotAcceptable = "not_acceptable"     // no representation the client accepts can be produced
	EMethod        = "method_not_allowed" // the endpoint exists, but not for this method
	ELocked        = "locked"             // the data is locked against change
	EUnavailable   = "unavailable"        // a dependency (database, object store) is down
	EInternal      = "internal"           // a bug or an unexpected failure
)

// Error is a domain error. Message is written to be shown to a client: it
// must never carry PHI, SQL or a secret. Err, if set, is the cause; it is
// logged, never shown.
type Error struct {
	Code    string
	Message string
	Err     error
}

// Error returns the code and the public message, followed by the cause when
// there is one (for logs; clients see only the message).
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause, so errors.Is and errors.As see through e.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a public message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and public message whose cause
// is err. The cause is for logs only.
func Wrap(err error, code, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, or EInternal
// for any other non-nil error, or "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the public message of the first *Error in err's chain.
// Any other error yields a generic message, so internals never reach a client.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EInternal {
		return e.Message
	}
	return "internal error"
}
