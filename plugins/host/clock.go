package host

import "time"

// Clock is the time source of health checks and restart backoff; tests
// inject a fake one to step through backoff deterministically.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Backoff gives the delay before restart attempt n (0 for the first
// restart after a crash).
type Backoff interface {
	Delay(attempt int) time.Duration
}

// ExponentialBackoff doubles from Base up to Max. It has no jitter: there is
// one process per connector per node, so restarts do not stampede anything.
type ExponentialBackoff struct {
	Base, Max time.Duration
}

// Delay implements Backoff.
func (b ExponentialBackoff) Delay(attempt int) time.Duration {
	d := b.Base
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	return d
}
