// Package errs holds the one error type every layer uses to say what went
// wrong in terms a user can act on. The API maps Kind to an HTTP status in a
// single place; grains carry Code/Kind/Message/Field across the wire.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for transport mapping. It never changes meaning
// across layers: a Kind is what the caller should do about it.
type Kind string

const (
	KindInvalid         Kind = "invalid"          // 400: the request is wrong; Field says where
	KindUnauthenticated Kind = "unauthenticated"  // 401: no or bad credential
	KindForbidden       Kind = "forbidden"        // 403: known caller, not allowed
	KindNotFound        Kind = "not_found"        // 404: absent, or not yours (existence never leaks)
	KindConflict        Kind = "conflict"         // 409: clashes with current state
	KindGone            Kind = "gone"             // 410: existed, no longer usable
	KindTooLarge        Kind = "too_large"        // 413
	KindUnsupportedType Kind = "unsupported_type" // 415
	KindRateLimited     Kind = "rate_limited"     // 429
	KindUnavailable     Kind = "unavailable"      // 503: retryable
	KindInternal        Kind = "internal"         // 500: our fault
)

// Error is a user-facing error: a stable machine code, a sentence, and the
// request field it concerns (dot path, empty when not about one field).
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Field   string
	Err     error // optional cause, never shown to users
	// RetryAfter, when set, tells a rate-limited or unavailable caller
	// how long to wait (the HTTP Retry-After header).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := e.Code + ": " + e.Message
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is match on Code, so callers can compare against the
// sentinels below without string matching.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Kind == e.Kind
}

// New builds an Error.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// Invalid reports a bad field: code names the rule ("required", "too_long"...).
func Invalid(field, code, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports an absent (or foreign) object of the given noun.
func NotFound(noun string) *Error {
	return &Error{Kind: KindNotFound, Code: noun + "_not_found", Message: noun + " not found"}
}

// Forbidden reports a missing capability.
func Forbidden(message string) *Error {
	return &Error{Kind: KindForbidden, Code: "forbidden", Message: message}
}

// Conflict reports a clash with existing state.
func Conflict(code, field, message string) *Error {
	return &Error{Kind: KindConflict, Code: code, Field: field, Message: message}
}

// Unauthenticated reports a credential problem with a reason code.
func Unauthenticated(code, message string) *Error {
	return &Error{Kind: KindUnauthenticated, Code: code, Message: message}
}

// Internal wraps an unexpected failure; the cause is logged, not shown.
func Internal(err error) *Error {
	return &Error{Kind: KindInternal, Code: "internal", Message: "internal error", Err: err}
}

// Unavailable reports a retryable failure.
func Unavailable(message string, err error) *Error {
	return &Error{Kind: KindUnavailable, Code: "unavailable", Message: message, Err: err}
}

// As returns err as *Error, wrapping anything else as Internal.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}
