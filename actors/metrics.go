package actors

import "github.com/prometheus/client_golang/prometheus"

// usageMetrics are the per-organization usage series (SPEC §5): units
// counted per meter, and threshold crossings (80%, 100%). Counters since
// the process started; the exact per-period numbers are GET …/usage.
type usageMetrics struct {
	units     *prometheus.CounterVec
	crossings *prometheus.CounterVec
}

func newUsageMetrics() *usageMetrics {
	return &usageMetrics{
		units: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailspark_usage_units_total", Help: "Usage units counted by this node, by organization and meter.",
		}, []string{"org", "meter"}),
		crossings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailspark_usage_threshold_crossings_total", Help: "Meters crossing 80% or 100% of their plan limit, by organization.",
		}, []string{"org", "meter", "percent"}),
	}
}

// Collectors are the Client's Prometheus series, for the API's registry.
func (c *Client) Collectors() []prometheus.Collector {
	cs := append([]prometheus.Collector{c.env.metrics().units, c.env.metrics().crossings}, c.RetentionCollectors()...)
	if c.env.Plugins != nil {
		cs = append(cs, c.env.Plugins.Collectors()...) // trailspark_plugin_* (docs/plugins.md)
	}
	if c.node != nil {
		cs = append(cs, c.clusterCollectors()...)
	}
	return cs
}

// clusterCollectors are the node's view of the cluster, read at scrape
// time (docs/operations.md, alerts): members seen, readiness, and whether
// the peers have left this node out.
func (c *Client) clusterCollectors() []prometheus.Collector {
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "trailspark_cluster_members", Help: "Cluster members this node sees (itself included)."},
			func() float64 { return float64(len(c.node.Members())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "trailspark_node_ready", Help: "1 when this node serves grain requests."},
			func() float64 { return b2f(c.node.Ready()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "trailspark_cluster_excluded", Help: "1 when the peers have dropped this node (it must be restarted)."},
			func() float64 { return b2f(c.node.Excluded()) }),
	}
}

func (e *Env) metrics() *usageMetrics {
	e.metricsOnce.Do(func() { e.usage = newUsageMetrics() })
	return e.usage
}

func (e *Env) countUnits(org, meter string, n int64) {
	if n > 0 {
		e.metrics().units.WithLabelValues(org, meter).Add(float64(n))
	}
}
