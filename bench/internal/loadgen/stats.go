package loadgen

import (
	"math"
	"slices"
	"time"
)

// Latency summarizes the latencies of one run, in microseconds.
type Latency struct {
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	P999 float64 `json:"p999_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
}

// summarize sorts samples (nanoseconds) in place and returns their
// percentiles by the nearest-rank method. It returns the zero Latency for no
// samples.
func summarize(samples []int64) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum float64
	for _, s := range samples {
		sum += float64(s)
	}
	return Latency{
		P50:  micros(nearestRank(samples, 0.50)),
		P90:  micros(nearestRank(samples, 0.90)),
		P99:  micros(nearestRank(samples, 0.99)),
		P999: micros(nearestRank(samples, 0.999)),
		Max:  micros(samples[len(samples)-1]),
		Mean: sum / float64(len(samples)) / float64(time.Microsecond),
	}
}

// nearestRank returns the q-quantile of sorted, the smallest value with at
// least q of all values at or below it.
func nearestRank(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func micros(nanoseconds int64) float64 {
	return float64(nanoseconds) / float64(time.Microsecond)
}
