package host

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailspark/trailspark/sdk/connector"
)

// metrics are the host's Prometheus series, one set per Host (not global:
// tests run several hosts in one process). Labels are bounded: connector
// names come from the plugins directory, methods and outcomes are fixed.
type metrics struct {
	starts   *prometheus.CounterVec   // connector, result (ok|failed)
	restarts *prometheus.CounterVec   // connector
	crashes  *prometheus.CounterVec   // connector, reason (exited|health_check)
	calls    *prometheus.CounterVec   // connector, method, outcome
	duration *prometheus.HistogramVec // connector, method
	state    *prometheus.Desc         // connector, state: computed from List at scrape
}

func newMetrics() *metrics {
	return &metrics{
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailspark_plugin_starts_total", Help: "Plugin process launches (first starts and restarts), by connector and result (ok, failed).",
		}, []string{"connector", "result"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailspark_plugin_restarts_total", Help: "Plugin processes restarted by the supervisor after a crash, by connector.",
		}, []string{"connector"}),
		crashes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailspark_plugin_crashes_total", Help: "Plugin processes that died or failed a health check, by connector and reason (exited, health_check).",
		}, []string{"connector", "reason"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailspark_plugin_calls_total",
			Help: "Calls to plugins by connector, method and outcome (ok, timeout, canceled, or the connector error kind: retryable, rate_limited, permanent, unauthorized, invalid_config, not_found, unsupported, unknown).",
		}, []string{"connector", "method", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trailspark_plugin_call_duration_seconds", Help: "Plugin call latency by connector and method (a Read is one page).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"connector", "method"}),
		state: prometheus.NewDesc("trailspark_plugin_state",
			"1 for each connector's current state (discovered, running, stopped, crashed, unapproved, failed), 0 for the others.",
			[]string{"connector", "state"}, nil),
	}
}

var allStates = []State{StateDiscovered, StateRunning, StateStopped, StateCrashed, StateUnapproved, StateFailed}

// Collectors are the host's Prometheus series, for the node's registry:
// trailspark_plugin_starts_total, _restarts_total, _crashes_total,
// _calls_total, _call_duration_seconds and the trailspark_plugin_state gauge.
func (h *Host) Collectors() []prometheus.Collector {
	m := h.metrics
	return []prometheus.Collector{m.starts, m.restarts, m.crashes, m.calls, m.duration, stateCollector{h}}
}

// stateCollector reports the state gauge from the entries at scrape time,
// so it can never drift from List.
type stateCollector struct{ h *Host }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.h.metrics.state }

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, i := range c.h.List() {
		for _, s := range allStates {
			v := 0.0
			if i.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.h.metrics.state, prometheus.GaugeValue, v, i.Name, string(s))
		}
	}
}

func (m *metrics) started(name string, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.starts.WithLabelValues(name, result).Inc()
}

func (m *metrics) crashed(name string, reason error) {
	r := "exited"
	if !errors.Is(reason, errExited) {
		r = "health_check"
	}
	m.crashes.WithLabelValues(name, r).Inc()
}

// observeCall records one call: callerCtx is the caller's context (its
// cancellation is "canceled"), timedOut says the host's own bound fired.
func (m *metrics) observeCall(name, method string, callerCtx context.Context, d time.Duration, err error, timedOut bool) {
	outcome := "ok"
	switch {
	case err == nil:
	case timedOut:
		outcome = "timeout"
	case callerCtx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		outcome = "canceled"
	default:
		outcome = connector.KindOf(err).String()
	}
	m.calls.WithLabelValues(name, method, outcome).Inc()
	m.duration.WithLabelValues(name, method).Observe(d.Seconds())
}
