package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// checkMetrics counts decisions by reason and records how long each check
// took. Counters for every reason are created up front, so a check only
// indexes a map that never changes after construction.
type checkMetrics struct {
	decisions map[evaluator.Reason]prometheus.Counter
	unknown   prometheus.Counter
	duration  prometheus.Histogram
}

func newCheckMetrics(reg prometheus.Registerer) (*checkMetrics, error) {
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ecsauthz",
		Name:      "decisions_total",
		Help:      "Authorization decisions by reason; reason \"allowed\" counts allowed requests.",
	}, []string{"reason"})
	duration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "ecsauthz",
		Name:      "check_duration_seconds",
		Help:      "Time spent deciding one request, from receipt by the checker to the decision, in seconds.",
		// Buckets from 5 µs to about 82 ms: a decision normally costs a few
		// microseconds, and Envoy's default ext_authz timeout is 200 ms.
		Buckets: prometheus.ExponentialBuckets(5e-6, 4, 8),
	})

	m := &checkMetrics{
		decisions: make(map[evaluator.Reason]prometheus.Counter, len(evaluator.Reasons)),
		unknown:   decisions.WithLabelValues("other"),
		duration:  duration,
	}
	for _, reason := range evaluator.Reasons {
		m.decisions[reason] = decisions.WithLabelValues(string(reason))
	}

	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{decisions, duration} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				return nil, fmt.Errorf("failed to register decision metrics: %w: use a separate prometheus.Registry for each Checker", err)
			}
			return nil, fmt.Errorf("failed to register decision metrics: %w", err)
		}
	}
	return m, nil
}

func (m *checkMetrics) observe(reason evaluator.Reason, elapsed time.Duration) {
	counter, ok := m.decisions[reason]
	if !ok {
		counter = m.unknown
	}
	counter.Inc()
	m.duration.Observe(elapsed.Seconds())
}
