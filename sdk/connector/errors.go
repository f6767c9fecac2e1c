package connector

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrorKind classifies a failure so the host knows what to do with it without
// reading messages: retry later, give up, ask the tenant to reconnect, slow down.
type ErrorKind int

const (
	// KindUnknown is never sent; an error without a kind is treated as retryable.
	KindUnknown ErrorKind = iota
	// KindUnsupported: the connector does not implement the capability.
	KindUnsupported
	// KindRetryable: transient (network, 5xx, timeout, plugin restarting); retry with backoff.
	KindRetryable
	// KindPermanent: retrying the same input will fail again (validation, 4xx other than 401/429).
	KindPermanent
	// KindUnauthorized: credentials are missing, expired or revoked; refresh or reconnect.
	KindUnauthorized
	// KindRateLimited: the remote service throttled us; wait RetryAfter.
	KindRateLimited
	// KindInvalidConfig: the tenant config is wrong (Field names the key).
	KindInvalidConfig
	// KindNotFound: the record or object does not exist.
	KindNotFound
)

var kindNames = map[ErrorKind]string{
	KindUnknown: "unknown", KindUnsupported: "unsupported", KindRetryable: "retryable",
	KindPermanent: "permanent", KindUnauthorized: "unauthorized", KindRateLimited: "rate_limited",
	KindInvalidConfig: "invalid_config", KindNotFound: "not_found",
}

func (k ErrorKind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error is the typed error that crosses the plugin boundary intact: a
// connector returns one (or wraps one with %w) and the host receives an
// *Error with the same Kind, Message, RetryAfter and Field.
type Error struct {
	Kind       ErrorKind
	Message    string
	RetryAfter time.Duration // KindRateLimited (and optionally KindRetryable)
	Field      string        // KindInvalidConfig: the config key at fault
	Err        error         // cause, local to the process that created the error; not sent
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	s := e.Kind.String()
	if msg != "" {
		s += ": " + msg
	}
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRetryable) and friends match on the kind alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Field == "" && t.Err == nil && t.RetryAfter == 0 && t.Kind == e.Kind
}

// Sentinels for errors.Is. Do not return them with extra context: use the
// constructors below.
var (
	ErrUnsupported   = &Error{Kind: KindUnsupported}
	ErrRetryable     = &Error{Kind: KindRetryable}
	ErrPermanent     = &Error{Kind: KindPermanent}
	ErrUnauthorized  = &Error{Kind: KindUnauthorized}
	ErrRateLimited   = &Error{Kind: KindRateLimited}
	ErrInvalidConfig = &Error{Kind: KindInvalidConfig}
	ErrNotFound      = &Error{Kind: KindNotFound}
)

func newErr(k ErrorKind, format string, args ...any) *Error {
	e := &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			e.Err = err
			break
		}
	}
	return e
}

// Unsupported reports an unimplemented capability or operation.
func Unsupported(format string, args ...any) *Error { return newErr(KindUnsupported, format, args...) }

// Retryable reports a transient failure.
func Retryable(format string, args ...any) *Error { return newErr(KindRetryable, format, args...) }

// Permanent reports a failure that retrying will not fix.
func Permanent(format string, args ...any) *Error { return newErr(KindPermanent, format, args...) }

// Unauthorized reports rejected credentials.
func Unauthorized(format string, args ...any) *Error {
	return newErr(KindUnauthorized, format, args...)
}

// NotFound reports a missing record or object.
func NotFound(format string, args ...any) *Error { return newErr(KindNotFound, format, args...) }

// RateLimited reports throttling; retryAfter may be zero when the service did not say.
func RateLimited(retryAfter time.Duration, format string, args ...any) *Error {
	e := newErr(KindRateLimited, format, args...)
	e.RetryAfter = retryAfter
	return e
}

// InvalidConfig reports a bad tenant config value.
func InvalidConfig(field, format string, args ...any) *Error {
	e := newErr(KindInvalidConfig, format, args...)
	e.Field = field
	return e
}

// KindOf returns the kind of the first *Error in err's chain, KindUnknown if none.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// IsRetryable reports whether the same call may succeed later: retryable,
// rate-limited and untyped errors are; unsupported, permanent, unauthorized,
// invalid-config and not-found are not. Context cancellation is not retryable
// (the caller gave up).
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	switch KindOf(err) {
	case KindRetryable, KindRateLimited, KindUnknown:
		return true
	}
	return false
}

// RetryAfter returns the delay the remote service asked for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}
