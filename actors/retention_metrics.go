package actors

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// retentionMetrics are the signal retention job's series (retention.go).
type retentionMetrics struct {
	purged   *prometheus.CounterVec
	failures prometheus.Counter
}

// retentionMetricsOf holds each Env's series (*Env → *retentionMetrics),
// created on first use.
var retentionMetricsOf sync.Map

func (e *Env) retentionMetrics() *retentionMetrics {
	if m, ok := retentionMetricsOf.Load(e); ok {
		return m.(*retentionMetrics)
	}
	m := &retentionMetrics{
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailspark_retention_purged_signals_total",
			Help: "Signals purged from the signal log by this node's retention job, by organization.",
		}, []string{"org"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trailspark_retention_failures_total",
			Help: "Organizations (or whole passes) the retention job failed to purge; retried at the next pass.",
		}),
	}
	v, _ := retentionMetricsOf.LoadOrStore(e, m)
	return v.(*retentionMetrics)
}

// RetentionCollectors are the retention job's series, for the API's
// registry.
func (c *Client) RetentionCollectors() []prometheus.Collector {
	m := c.env.retentionMetrics()
	return []prometheus.Collector{m.purged, m.failures}
}
